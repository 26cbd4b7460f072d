# The tensor registry against the official state_dict lists (tests/data/state_dict/).
# It links nvae_trainer once trainer/CMakeLists.txt builds the registry sources into it; until
# then it links nvae_model_arch_tmp, a stand-in library defined in tools/nvae-plan.cmake.
set(NVAE_REGISTRY_LIB nvae_model_arch_tmp)
if(TARGET nvae_trainer)
  get_target_property(_nvae_trainer_src nvae_trainer SOURCES)
  if("${_nvae_trainer_src}" MATCHES "model_registry\\.c")
    set(NVAE_REGISTRY_LIB nvae_trainer)
  endif()
endif()
nvae_add_test(NAME test_registry SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/model/test_registry.c
              LIBS ${NVAE_REGISTRY_LIB} LABELS unit)
