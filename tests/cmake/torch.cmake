# PyTorch parity tests (label integration): each tests/torch/test_torch_*.c is one test that runs
# its reference script through torch_bridge. They need Debian's python3-torch and python3-h5py,
# which tools/setup.sh installs; without them the tests FAIL (they are never silently skipped).
add_library(nvae_torch_bridge STATIC ${CMAKE_CURRENT_SOURCE_DIR}/torch/torch_bridge.c)
target_link_libraries(nvae_torch_bridge PUBLIC nvae_base PkgConfig::HDF5)
file(GLOB NVAE_TORCH_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/torch/test_torch_*.c)
foreach(src ${NVAE_TORCH_TESTS})
  get_filename_component(name ${src} NAME_WE)
  nvae_add_test(NAME ${name} SOURCES ${src} LIBS nvae_torch_bridge nvae_kernels LABELS integration
                TIMEOUT 600)
endforeach()
