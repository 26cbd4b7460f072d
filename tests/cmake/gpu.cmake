# GPU tests (label gpu): built when the CUDA backend is, and reported as SKIPPED (exit 77) when no
# GPU is visible. In a CPU-only build they are still registered, as skipped tests that say why.
file(GLOB NVAE_GPU_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/gpu/test_*.c)
foreach(src ${NVAE_GPU_TESTS})
  get_filename_component(name ${src} NAME_WE)
  if(NVAE_HAVE_CUDA)
    nvae_add_test(NAME ${name} SOURCES ${src} LIBS nvae_kernels_cuda nvae_opcases LABELS gpu)
  else()
    add_test(NAME ${name} COMMAND sh -c "echo '${name}: SKIPPED: built without the CUDA backend'; exit 77")
    set_tests_properties(${name} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
  endif()
endforeach()
