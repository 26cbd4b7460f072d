# The configuration system (trainer/config*.c): error classes, round trip, overrides, defaults, the
# shipped configs, a mutation fuzz test (run it in the NVAE_SANITIZE build too), and a check that
# docs/config.md is what tools/nvae-config-doc generates from the key table.
nvae_add_test(NAME test_config SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/config/test_config.c
              LIBS nvae_trainer LABELS unit)
nvae_add_test(NAME test_config_fuzz SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/config/test_config_fuzz.c
              LIBS nvae_trainer LABELS unit TIMEOUT 300)
if(TARGET nvae-config-doc)
  add_test(NAME test_config_doc
           COMMAND nvae-config-doc --check ${PROJECT_SOURCE_DIR}/docs/config.md)
  set_tests_properties(test_config_doc PROPERTIES LABELS unit)
endif()
