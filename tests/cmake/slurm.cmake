# Preemption on a real Slurm (label slurm): a private single-node Slurm on localhost
# (tests/slurm/slurm_local.sh: its own munged, slurmctld, slurmd; daemons stopped by PID), two jobs
# from launch/sbatch-cpu.sh (2 ranks, srun --mpi=pmix): one signalled with
# 'scancel --signal=USR1 --batch' -> checkpoint -> exit 75 -> scontrol requeue -> --resume auto,
# one uninterrupted; their final/model.h5 must be bit-identical. 40 s to 2.5 minutes; skipped (77)
# only where Slurm cannot run (packages missing: tools/setup.sh installs them; not root).
if(TARGET nvae-train AND TARGET nvae-prep)
  add_test(NAME test_slurm_requeue
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/slurm/test_slurm_requeue.sh
                   $<TARGET_FILE_DIR:nvae-train> ${PROJECT_SOURCE_DIR})
  # PROCESSORS 2: the job's 2 ranks get the cores of a 2-core CI machine to themselves
  set_tests_properties(test_slurm_requeue PROPERTIES LABELS slurm SKIP_RETURN_CODE 77 TIMEOUT 600
                       PROCESSORS 2 ENVIRONMENT
                       "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMP_NUM_THREADS=1;${NVAE_MPI_TEST_ENV}")
endif()
