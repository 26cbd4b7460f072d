# Dataset tests (issue 3: dataset/, nvae-prep, loader). Unit tests are fast and self-contained;
# integration tests compare with PIL/h5py through Debian's python or read real data
# (Fashion-MNIST from the dataset-fashion-mnist package).
add_library(nvae_dataset_testutil STATIC ${CMAKE_CURRENT_SOURCE_DIR}/dataset/dataset_testutil.c)
target_link_libraries(nvae_dataset_testutil PUBLIC nvae_dataset nvae_testutil PkgConfig::TURBOJPEG)

foreach(name sha256 yaml sampler transform loader errors fuzz)
  nvae_add_test(NAME test_dataset_${name} SOURCES dataset/test_dataset_${name}.c
                LIBS nvae_dataset_testutil LABELS unit ARGS $<TARGET_FILE:nvae-prep>)
  add_dependencies(test_dataset_${name} nvae-prep)
endforeach()

foreach(name celeba_pil folder_pil fashion_mnist)
  nvae_add_test(NAME test_dataset_${name} SOURCES dataset/test_dataset_${name}.c
                LIBS nvae_dataset_testutil LABELS integration ARGS $<TARGET_FILE:nvae-prep>
                TIMEOUT 600)
  add_dependencies(test_dataset_${name} nvae-prep)
endforeach()

# The fuzz test feeds damaged shards to libhdf5, which leaks inside its metadata cache on some of
# them (see the file); in the ASan build that would fail the test for a library bug.
set_property(TEST test_dataset_fuzz APPEND PROPERTY ENVIRONMENT
  "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/dataset/lsan-hdf5.supp:print_suppressions=0"
  "ASAN_OPTIONS=fast_unwind_on_malloc=0")

# nvae-prep synthetic: reproducible smooth images with the three splits.
add_test(NAME test_prep_synthetic
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/dataset/test_prep_synthetic.sh $<TARGET_FILE:nvae-prep>)
set_tests_properties(test_prep_synthetic PROPERTIES LABELS unit TIMEOUT 120)
