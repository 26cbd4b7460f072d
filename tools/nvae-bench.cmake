# nvae-bench: one-process training-step throughput, memory and FLOPs for a config (issue #8).
add_executable(nvae-bench ${CMAKE_CURRENT_SOURCE_DIR}/nvae-bench.c)
target_link_libraries(nvae-bench PRIVATE nvae_trainer)
