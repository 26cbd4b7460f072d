# nvae-loader-bench: images/s the dataset loader delivers per rank (a tool, not a test).
add_executable(nvae-loader-bench ${CMAKE_CURRENT_SOURCE_DIR}/nvae-loader-bench.c)
target_link_libraries(nvae-loader-bench PRIVATE nvae_dataset)
