# nvae-prep: dataset preparation (docs/dataset-format.md).
add_executable(nvae-prep ${CMAKE_CURRENT_SOURCE_DIR}/nvae-prep.c)
target_link_libraries(nvae-prep PRIVATE nvae_dataset)
