# The NVAE model (trainer/model.h): smoke test on the CPU backend and one-step parity with the
# PyTorch reference (tests/reference/nvae_ref.py through tests/model/parity_step.py).
nvae_add_test(NAME test_model_smoke SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/model/test_model_smoke.c
              LIBS nvae_trainer nvae_kernels LABELS unit TIMEOUT 600)
nvae_add_test(NAME test_model_parity SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/model/test_model_parity.c
              LIBS nvae_trainer nvae_kernels PkgConfig::HDF5 LABELS integration TIMEOUT 900)

# The benchmark tools (nvae-bench, bench_torch.py, the FLOP count): they run and report.
if(TARGET nvae-bench AND TARGET nvae-train)
  add_test(NAME test_bench_tools
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/model/test_bench_tools.sh
                   $<TARGET_FILE_DIR:nvae-bench> ${PROJECT_SOURCE_DIR})
  set_tests_properties(test_bench_tools PROPERTIES LABELS integration TIMEOUT 300
                       ENVIRONMENT "OMP_NUM_THREADS=1")
endif()

# Whole-step parity of the CUDA backend with the CPU backend (label gpu; skipped without a GPU).
nvae_add_test(NAME test_step_parity_gpu SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/model/test_step_parity_gpu.c
              LIBS nvae_trainer nvae_kernels LABELS gpu TIMEOUT 600)
