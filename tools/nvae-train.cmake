# nvae-train, nvae-sample, nvae-eval: the training program and its tools (DESIGN.md §6).
#
# trainer/ now needs the dataset loader, HDF5 (model.h5) and libpng (sample grids). Linking them
# into nvae_trainer belongs in trainer/CMakeLists.txt; until that file says so, it is done here
# (tools/ is configured after trainer/, and CMake >= 3.13 allows it from another directory).
target_link_libraries(nvae_trainer PUBLIC nvae_dataset PkgConfig::HDF5 PkgConfig::PNG)

# The binaries need the model (model_create in trainer/model*.c). While it is being written they
# are skipped, so the rest of the tree keeps building.
set(NVAE_HAVE_MODEL OFF)
file(GLOB _nvae_trainer_c ${PROJECT_SOURCE_DIR}/trainer/*.c)
foreach(f ${_nvae_trainer_c})
  file(STRINGS ${f} _hit REGEX "^int model_create\\(")
  if(_hit)
    set(NVAE_HAVE_MODEL ON)
  endif()
endforeach()

if(NVAE_HAVE_MODEL)
  foreach(tool nvae-train nvae-sample nvae-eval)
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${tool}.c)
      continue()
    endif()
    add_executable(${tool} ${CMAKE_CURRENT_SOURCE_DIR}/${tool}.c)
    target_link_libraries(${tool} PRIVATE nvae_trainer nvae_dataset)
  endforeach()
else()
  message(STATUS "nvae-train, nvae-sample, nvae-eval: skipped (no model_create in trainer/ yet)")
endif()
