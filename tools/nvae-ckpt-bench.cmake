# nvae-ckpt-bench: checkpoint write/load time and GB/s for a config's model (trainer/ckpt_*.c).
add_executable(nvae-ckpt-bench ${CMAKE_CURRENT_SOURCE_DIR}/nvae-ckpt-bench.c)
target_link_libraries(nvae-ckpt-bench PRIVATE nvae_trainer)
