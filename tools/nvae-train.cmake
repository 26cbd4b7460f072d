# nvae-train, nvae-sample, nvae-eval: the training program and its tools (DESIGN.md §6).
# nvae-train is data-parallel under mpirun (comm/); nvae-sample and nvae-eval run as one process.
foreach(tool nvae-train nvae-sample nvae-eval)
  add_executable(${tool} ${CMAKE_CURRENT_SOURCE_DIR}/${tool}.c)
  target_link_libraries(${tool} PRIVATE nvae_trainer)
endforeach()
target_link_libraries(nvae-train PRIVATE nvae_comm)
