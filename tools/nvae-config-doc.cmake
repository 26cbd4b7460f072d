# nvae-config-doc: docs/config.md from the config key table (trainer/config_schema.c).
#   cmake --build <build> --target config-doc    regenerates docs/config.md in the source tree
# tests/cmake/config.cmake registers test_config_doc, which fails when the checked-in file is stale.
add_executable(nvae-config-doc ${CMAKE_CURRENT_SOURCE_DIR}/nvae-config-doc.c)
target_link_libraries(nvae-config-doc PRIVATE nvae_trainer)
add_custom_target(config-doc
                  COMMAND nvae-config-doc -o ${PROJECT_SOURCE_DIR}/docs/config.md
                  DEPENDS nvae-config-doc
                  COMMENT "Writing docs/config.md from trainer/config_schema.c")
