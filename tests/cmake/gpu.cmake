# GPU tests (label gpu): built when the CUDA backend is, and reported as SKIPPED (exit 77) when no
# GPU is visible. In a CPU-only build they are still registered, as skipped tests that say why.
# tests/gpu/backend_entries.c is a helper linked into each of them (the op table's entry names).
file(GLOB NVAE_GPU_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/gpu/test_*.c)
foreach(src ${NVAE_GPU_TESTS})
  get_filename_component(name ${src} NAME_WE)
  if(NVAE_HAVE_CUDA)
    nvae_add_test(NAME ${name} SOURCES ${src} ${CMAKE_CURRENT_SOURCE_DIR}/gpu/backend_entries.c
                  LIBS nvae_kernels_cuda nvae_opcases LABELS gpu TIMEOUT 600)
  else()
    add_test(NAME ${name} COMMAND sh -c "echo '${name}: SKIPPED: built without the CUDA backend'; exit 77")
    set_tests_properties(${name} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
  endif()
endforeach()
# The CUDA op table needs no GPU to be taken: test_cuda_table also runs on CPU machines (label
# unit too), wherever the CUDA backend is built.
if(NVAE_HAVE_CUDA)
  set_tests_properties(test_cuda_table PROPERTIES LABELS "gpu;unit")
endif()

# The harness of test_ops_gpu (opcase_compare) with the CPU backend on both sides: runs everywhere.
nvae_add_test(NAME test_ops_compare_cpu SOURCES ops/test_ops_compare_cpu.c LIBS nvae_opcases
              LABELS unit)
