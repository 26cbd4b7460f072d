# nvae-train under mpirun (label mpi): 2 ranks x batch 4 = 1 process x batch 8 (final/model.h5
# within 1e-5 relative), and the failure policy (shared errors exit 2, a one-rank error aborts).
if(TARGET nvae-train AND TARGET nvae-prep AND MPIEXEC_EXECUTABLE)
  add_test(NAME test_train_mpi_equiv
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/train/test_train_mpi_equiv.sh
                   $<TARGET_FILE_DIR:nvae-train> ${PROJECT_SOURCE_DIR} ${MPIEXEC_EXECUTABLE})
  set_tests_properties(test_train_mpi_equiv PROPERTIES LABELS mpi SKIP_RETURN_CODE 77 TIMEOUT 300
                       ENVIRONMENT
                       "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMP_NUM_THREADS=1;${NVAE_MPI_TEST_ENV}")
endif()

# Faults under mpirun (label mpi): a killed rank, a stalled rank (watchdog), NaN on one rank.
if(TARGET nvae-train AND TARGET nvae-prep AND MPIEXEC_EXECUTABLE)
  add_test(NAME test_train_mpi_faults
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/train/test_train_mpi_faults.sh
                   $<TARGET_FILE_DIR:nvae-train> ${PROJECT_SOURCE_DIR} ${MPIEXEC_EXECUTABLE})
  set_tests_properties(test_train_mpi_faults PROPERTIES LABELS mpi SKIP_RETURN_CODE 77 TIMEOUT 300
                       ENVIRONMENT
                       "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMP_NUM_THREADS=1;${NVAE_MPI_TEST_ENV}")
endif()

# The scaling-study tool (label mpi): CSV, Markdown, PNG at 1 and 2 ranks; collectives predicted
# at start-up = measured.
if(TARGET nvae-train AND TARGET nvae-prep AND MPIEXEC_EXECUTABLE)
  add_test(NAME test_scaling_tool
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/train/test_scaling_tool.sh
                   $<TARGET_FILE_DIR:nvae-train> ${PROJECT_SOURCE_DIR})
  set_tests_properties(test_scaling_tool PROPERTIES LABELS mpi SKIP_RETURN_CODE 77 TIMEOUT 300
                       ENVIRONMENT
                       "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMP_NUM_THREADS=1;${NVAE_MPI_TEST_ENV}")
endif()
