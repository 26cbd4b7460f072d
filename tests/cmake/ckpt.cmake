# Checkpoints (issue #6, DESIGN.md §5, docs/checkpoint-format.md): format units (parsers fuzzed,
# a write/verify/load round trip), bit-exact resume (1 rank, 2 ranks), reshard 2 -> 1, preemption
# (exit 75), kill-during-write trials, damaged checkpoints and a full disk.
nvae_add_test(NAME test_ckpt_format SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/ckpt/test_ckpt_format.c
              LIBS nvae_trainer LABELS unit TIMEOUT 120)

# Real trainings under mpirun (2 ranks, OMP_NUM_THREADS=1, --oversubscribe) and as one process;
# each script says what it checks. About 20 s, 60 s and 15 s on 2 cores.
if(TARGET nvae-train AND TARGET nvae-prep AND MPIEXEC_EXECUTABLE)
  foreach(name resume kill corrupt)
    add_test(NAME test_ckpt_${name}
             COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/ckpt/test_ckpt_${name}.sh
                     $<TARGET_FILE_DIR:nvae-train> ${PROJECT_SOURCE_DIR} ${MPIEXEC_EXECUTABLE})
    set_tests_properties(test_ckpt_${name} PROPERTIES LABELS "integration;mpi"
                         SKIP_RETURN_CODE 77 TIMEOUT 600 ENVIRONMENT
                         "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMP_NUM_THREADS=1;${NVAE_MPI_TEST_ENV}")
  endforeach()
endif()
