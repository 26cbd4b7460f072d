# The training program (trainer/schedule, config_model, model_io, train; tools/nvae-train,
# nvae-sample, nvae-eval): unit tests of the parts, CLI error cases and short real trainings.
foreach(name schedule config_model model_io)
  nvae_add_test(NAME test_train_${name} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/train/test_${name}.c
                LIBS nvae_trainer LABELS unit)
endforeach()
# model.h5 must be readable by h5py: names, shapes, dtypes, attributes.
set_property(TEST test_train_model_io APPEND PROPERTY ENVIRONMENT
             "TRAIN_TEST_DIR=${CMAKE_CURRENT_SOURCE_DIR}/train")

# CLI error cases and a short real training (they need the binaries, built once the model links).
if(TARGET nvae-train AND TARGET nvae-sample AND TARGET nvae-eval)
  add_test(NAME test_train_cli_errors
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/train/test_train_cli.sh
                   $<TARGET_FILE_DIR:nvae-train> ${PROJECT_SOURCE_DIR} errors)
  set_tests_properties(test_train_cli_errors PROPERTIES LABELS unit SKIP_RETURN_CODE 77
                       TIMEOUT 300 ENVIRONMENT "${NVAE_MPI_TEST_ENV}")
  add_test(NAME test_train_fmnist_short
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/train/test_train_cli.sh
                   $<TARGET_FILE_DIR:nvae-train> ${PROJECT_SOURCE_DIR} short)
  set_tests_properties(test_train_fmnist_short PROPERTIES LABELS integration
                       SKIP_RETURN_CODE 77 TIMEOUT 900
                       ENVIRONMENT "OMP_NUM_THREADS=2;${NVAE_MPI_TEST_ENV}")
  # The learning check of tools/learning-check.sh: 200 steps of fmnist-small, NELBO <= 285.
  add_test(NAME test_learning_fmnist
           COMMAND sh ${PROJECT_SOURCE_DIR}/tools/learning-check.sh 200
                   $<TARGET_FILE_DIR:nvae-train>)
  set_tests_properties(test_learning_fmnist PROPERTIES LABELS integration SKIP_RETURN_CODE 77
                       TIMEOUT 1800 ENVIRONMENT "OMP_NUM_THREADS=2;${NVAE_MPI_TEST_ENV}")
endif()
