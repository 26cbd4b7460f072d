# nvae-plan: prints the start-up table (parameters, layers, latent groups, arena sizes) of a
# built-in architecture, until nvae-train --dry-run does the same from a config.
#
# The registry sources belong to nvae_trainer (trainer/CMakeLists.txt globs trainer/*.c). While
# that library does not exist yet, a stand-in library with just the model sources is built here
# (tools/ is configured before tests/, which reuses it).
set(NVAE_REGISTRY_LIB nvae_trainer)
set(_nvae_need_tmp ON)
if(TARGET nvae_trainer)
  get_target_property(_nvae_trainer_src nvae_trainer SOURCES)
  if("${_nvae_trainer_src}" MATCHES "model_registry\\.c")
    set(_nvae_need_tmp OFF)
  endif()
endif()
if(_nvae_need_tmp)
  add_library(nvae_model_arch_tmp STATIC ${PROJECT_SOURCE_DIR}/trainer/model_arch.c
              ${PROJECT_SOURCE_DIR}/trainer/registry.c ${PROJECT_SOURCE_DIR}/trainer/model_registry.c)
  target_link_libraries(nvae_model_arch_tmp PUBLIC nvae_kernels)
  set(NVAE_REGISTRY_LIB nvae_model_arch_tmp)
endif()

add_executable(nvae-plan ${CMAKE_CURRENT_SOURCE_DIR}/nvae-plan.c)
target_link_libraries(nvae-plan PRIVATE ${NVAE_REGISTRY_LIB} nvae_kernels)
