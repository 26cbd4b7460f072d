# Run-directory writers (trainer/png_write, image_grid, crc32c, tb_writer, metrics_log): each C
# test writes files into a scratch directory and hands them to an independent Python checker in
# tests/logging (numpy/PIL reference grids, a hand-written TFRecord + protobuf reader, json).
# Debian's /usr/bin/python3 with PIL and numpy is required: without it these tests FAIL.
add_library(nvae_logtest STATIC ${CMAKE_CURRENT_SOURCE_DIR}/logging/logtest.c)
target_compile_definitions(nvae_logtest PRIVATE
                           LOGGING_TEST_DIR="${CMAKE_CURRENT_SOURCE_DIR}/logging")
target_link_libraries(nvae_logtest PUBLIC nvae_base)

# png_write.c needs libpng; nvae_trainer does not link it (yet), so the tests name it.
foreach(name png_grid tb_writer metrics_log)
  nvae_add_test(NAME test_${name} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/logging/test_${name}.c
                LIBS nvae_logtest nvae_trainer PkgConfig::PNG LABELS unit)
endforeach()
