# PyTorch reference NVAE (tests/reference/): its self-test. It needs Debian's python3-torch,
# python3-numpy and python3-h5py (NVAE_TORCH_PYTHON, see cmake/NvaeDependencies.cmake).
add_test(NAME test_reference_model
         COMMAND ${NVAE_TORCH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/test_reference.py)
set_tests_properties(test_reference_model PROPERTIES LABELS integration TIMEOUT 600
                     ENVIRONMENT "OMP_NUM_THREADS=2")
