# nvae-train, nvae-sample, nvae-eval: the training program and its tools (DESIGN.md §6).
foreach(tool nvae-train nvae-sample nvae-eval)
  add_executable(${tool} ${CMAKE_CURRENT_SOURCE_DIR}/${tool}.c)
  target_link_libraries(${tool} PRIVATE nvae_trainer)
endforeach()
