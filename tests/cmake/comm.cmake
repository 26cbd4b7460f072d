# comm/ tests (label mpi): collectives at 1 (singleton, no mpirun), 2, 3 and 4 ranks; non-blocking
# buckets; fault trials (watchdog timeout, comm_abort, a rank that exits or is killed, the
# world-size cross-check) run by a driver that checks exit status, message and elapsed time.
# Open MPI as root needs the two OMPI_ALLOW_* variables; --oversubscribe lets 4 ranks share 2 cores.
# ASan build: Open MPI's own allocations outlive MPI_Finalize (see the .supp file); the slow
# unwinder and keeping MPI's plug-ins loaded let the suppressions see the library names.
set(NVAE_COMM_TEST_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMP_NUM_THREADS=1"
    "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/comm/lsan-openmpi.supp:print_suppressions=0"
    "ASAN_OPTIONS=fast_unwind_on_malloc=0" "OMPI_MCA_mca_base_component_disable_dlclose=1")

foreach(name collectives async)
  # run directly: world size 1 without mpirun (an MPI singleton)
  nvae_add_test(NAME test_comm_${name} SOURCES comm/test_comm_${name}.c LIBS nvae_comm
                LABELS mpi TIMEOUT 60)
  set_property(TEST test_comm_${name} APPEND PROPERTY ENVIRONMENT ${NVAE_COMM_TEST_ENV})
  foreach(np 2 3 4)
    add_test(NAME test_comm_${name}_np${np}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} --oversubscribe
                     ${MPIEXEC_PREFLAGS} $<TARGET_FILE:test_comm_${name}> ${MPIEXEC_POSTFLAGS})
    set_tests_properties(test_comm_${name}_np${np} PROPERTIES LABELS mpi TIMEOUT 120
                         ENVIRONMENT "${NVAE_COMM_TEST_ENV}")
  endforeach()
endforeach()

add_executable(comm_fault_worker comm/comm_fault_worker.c)
target_link_libraries(comm_fault_worker PRIVATE nvae_comm)
nvae_add_test(NAME test_comm_faults SOURCES comm/test_comm_faults.c LABELS mpi TIMEOUT 300
              ARGS $<TARGET_FILE:comm_fault_worker> ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG})
add_dependencies(test_comm_faults comm_fault_worker)
set_property(TEST test_comm_faults APPEND PROPERTY ENVIRONMENT ${NVAE_COMM_TEST_ENV})

# The host-side rule of the device choice (no MPI, no GPU).
nvae_add_test(NAME test_comm_device_pick SOURCES comm/test_comm_device_pick.c LIBS nvae_comm
              LABELS unit)

# Device buffers (label gpu): NCCL with one rank, the MPI transport staging through pinned memory
# with 2 ranks sharing one GPU, and NCCL's refusal of 2 ranks on one GPU. Skipped without a GPU.
set(_comm_gpu_tests test_comm_cuda_nccl test_comm_cuda_mpi_np2 test_comm_cuda_nccl_shared_np2)
if(NVAE_HAVE_CUDA)
  add_executable(test_comm_cuda comm/test_comm_cuda.c)
  target_link_libraries(test_comm_cuda PRIVATE nvae_testutil nvae_comm nvae_kernels_cuda)
  add_test(NAME test_comm_cuda_nccl COMMAND test_comm_cuda nccl)
  add_test(NAME test_comm_cuda_mpi_np2
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 --oversubscribe
                   ${MPIEXEC_PREFLAGS} $<TARGET_FILE:test_comm_cuda> mpi)
  add_test(NAME test_comm_cuda_nccl_shared_np2
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 --oversubscribe
                   ${MPIEXEC_PREFLAGS} $<TARGET_FILE:test_comm_cuda> nccl-shared)
else()
  foreach(name ${_comm_gpu_tests})
    add_test(NAME ${name} COMMAND sh -c "echo '${name}: SKIPPED: built without the CUDA backend'; exit 77")
  endforeach()
endif()
set_tests_properties(${_comm_gpu_tests} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 120
                     ENVIRONMENT "${NVAE_COMM_TEST_ENV}")

# Sync-BN over real ranks with uneven batches (2, 5, 1) against one process on the concatenation.
add_executable(test_syncbn_mpi comm/test_syncbn_mpi.c)
target_link_libraries(test_syncbn_mpi PRIVATE nvae_testutil nvae_comm nvae_kernels)
add_test(NAME test_syncbn_mpi_np3
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 3 --oversubscribe
                 ${MPIEXEC_PREFLAGS} $<TARGET_FILE:test_syncbn_mpi> ${MPIEXEC_POSTFLAGS})
set_tests_properties(test_syncbn_mpi_np3 PROPERTIES LABELS mpi TIMEOUT 120
                     ENVIRONMENT "${NVAE_COMM_TEST_ENV}")
