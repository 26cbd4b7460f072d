# Finds every library nvae-train uses and prints a ✓/✗ summary. Required libraries stop the
# configure step with a message naming the Debian package; CUDA/cuDNN/NCCL follow NVAE_CUDA.
find_package(PkgConfig REQUIRED)
set(_nvae_summary "")
macro(nvae_report name ok detail)
  if(${ok})
    string(APPEND _nvae_summary "  ✓ ${name}  ${detail}\n")
  else()
    string(APPEND _nvae_summary "  ✗ ${name}  ${detail}\n")
  endif()
endmacro()

# --- MPI --------------------------------------------------------------------------------------
find_package(MPI COMPONENTS C)
nvae_report("MPI" MPI_C_FOUND "MPI ${MPI_C_VERSION} ${MPI_C_LIBRARIES}")
if(NOT MPI_C_FOUND)
  message(FATAL_ERROR "MPI not found: install libopenmpi-dev openmpi-bin (tools/setup.sh does)")
endif()

# --- HDF5 (serial) ----------------------------------------------------------------------------
pkg_check_modules(HDF5 IMPORTED_TARGET hdf5-serial)
if(NOT HDF5_FOUND)
  pkg_check_modules(HDF5 IMPORTED_TARGET hdf5)
endif()
nvae_report("HDF5" HDF5_FOUND "${HDF5_VERSION}")
if(NOT HDF5_FOUND)
  message(FATAL_ERROR "HDF5 not found: install libhdf5-dev (tools/setup.sh does)")
endif()

# --- libyaml ----------------------------------------------------------------------------------
pkg_check_modules(YAML IMPORTED_TARGET yaml-0.1)
nvae_report("libyaml" YAML_FOUND "${YAML_VERSION}")
if(NOT YAML_FOUND)
  message(FATAL_ERROR "libyaml not found: install libyaml-dev (tools/setup.sh does)")
endif()

# --- CBLAS (OpenBLAS) -------------------------------------------------------------------------
pkg_check_modules(OPENBLAS IMPORTED_TARGET openblas)
nvae_report("OpenBLAS" OPENBLAS_FOUND "${OPENBLAS_VERSION}")
if(NOT OPENBLAS_FOUND)
  message(FATAL_ERROR "OpenBLAS not found: install libopenblas-dev (tools/setup.sh does)")
endif()

# --- libpng, libjpeg-turbo, zlib --------------------------------------------------------------
pkg_check_modules(PNG IMPORTED_TARGET libpng16)
nvae_report("libpng" PNG_FOUND "${PNG_VERSION}")
pkg_check_modules(TURBOJPEG IMPORTED_TARGET libturbojpeg)
nvae_report("libjpeg-turbo" TURBOJPEG_FOUND "${TURBOJPEG_VERSION}")
find_package(ZLIB)
nvae_report("zlib" ZLIB_FOUND "${ZLIB_VERSION_STRING}")
if(NOT PNG_FOUND OR NOT TURBOJPEG_FOUND OR NOT ZLIB_FOUND)
  message(FATAL_ERROR "libpng/libturbojpeg/zlib missing: install libpng-dev libturbojpeg0-dev zlib1g-dev")
endif()

# --- OpenMP -----------------------------------------------------------------------------------
find_package(OpenMP COMPONENTS C)
nvae_report("OpenMP" OpenMP_C_FOUND "${OpenMP_C_VERSION}")

find_package(Threads REQUIRED)

# --- CUDA toolkit, cuDNN, NCCL ----------------------------------------------------------------
set(NVAE_HAVE_CUDA OFF)
if(NOT NVAE_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    find_package(CUDAToolkit)
  endif()
  set(_cuda_hint_dirs ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_TARGET_DIR}/lib64)
  find_path(CUDNN_INCLUDE_DIR cudnn.h
            HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9
               HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${_cuda_hint_dirs} PATH_SUFFIXES lib lib64)
  find_path(NCCL_INCLUDE_DIR nccl.h
            HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2
               HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${_cuda_hint_dirs} PATH_SUFFIXES lib lib64)
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND AND CUDNN_INCLUDE_DIR AND CUDNN_LIBRARY
     AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(NVAE_HAVE_CUDA ON)
  endif()
  nvae_report("CUDA toolkit" CUDAToolkit_FOUND "${CUDAToolkit_VERSION} ${CMAKE_CUDA_COMPILER}")
  nvae_report("cuDNN" CUDNN_LIBRARY "${CUDNN_LIBRARY}")
  nvae_report("NCCL" NCCL_LIBRARY "${NCCL_LIBRARY}")
  if(NVAE_CUDA STREQUAL "ON" AND NOT NVAE_HAVE_CUDA)
    message(FATAL_ERROR "NVAE_CUDA=ON but the CUDA toolkit, cuDNN or NCCL was not found "
                        "(set CUDNN_ROOT / NCCL_ROOT for installs outside /usr/local/cuda)")
  endif()
else()
  string(APPEND _nvae_summary "  - CUDA backend  disabled (NVAE_CUDA=OFF)\n")
endif()
if(NVAE_HAVE_CUDA)
  set(CMAKE_CUDA_ARCHITECTURES ${NVAE_CUDA_ARCH})
  set(CMAKE_CUDA_STANDARD 17)
  enable_language(CUDA)
  add_compile_definitions(NVAE_HAVE_CUDA=1)
endif()

# Python with PyTorch for the parity tests: Debian's interpreter, not the first python3 on PATH.
set(NVAE_TORCH_PYTHON /usr/bin/python3 CACHE FILEPATH "Python interpreter with torch, h5py, PIL")
execute_process(COMMAND ${NVAE_TORCH_PYTHON} -c "import torch, h5py; print(torch.__version__)"
                OUTPUT_VARIABLE _torch_ver RESULT_VARIABLE _torch_rc ERROR_QUIET
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_torch_rc EQUAL 0)
  set(NVAE_HAVE_TORCH ON)
else()
  set(NVAE_HAVE_TORCH OFF)
endif()
nvae_report("PyTorch (tests)" NVAE_HAVE_TORCH "${NVAE_TORCH_PYTHON} ${_torch_ver}")

message(STATUS "nvae-train dependencies:\n${_nvae_summary}  => CUDA backend: ${NVAE_HAVE_CUDA}")
