# nvae-opbench: times the op cases flagged OPCASE_BENCH (tests/ops/cases_*.c), ours and, with
# --torch, PyTorch CPU (tools/opbench_torch.py). It links nvae_opcases, which tests/CMakeLists.txt
# defines later in the configure; CMake resolves the name at generate time. Without the tests
# (BUILD_TESTING=OFF) there is no op-case table, so no tool.
if(NOT DEFINED BUILD_TESTING OR BUILD_TESTING)
  add_executable(nvae-opbench ${CMAKE_CURRENT_SOURCE_DIR}/nvae-opbench.c)
  target_link_libraries(nvae-opbench PRIVATE nvae_opcases nvae_kernels)
  target_compile_definitions(nvae-opbench PRIVATE NVAE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                             NVAE_TORCH_PYTHON="${NVAE_TORCH_PYTHON}")
endif()
