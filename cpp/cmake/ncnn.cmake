# Provides the imported target `ncnn` for facedge.
#
# Order of preference:
#   1. An installed ncnn that CMake finds (set ncnn_DIR to its lib/cmake/ncnn).
#   2. A build of ncnn ${FACEDGE_NCNN_VERSION} cached outside the repository under
#      ${FACEDGE_CACHE_DIR}/ncnn/<version>-<options hash>/, built on first use from
#        - FACEDGE_NCNN_SOURCE (env or cache variable): a source archive or folder,
#        - else the pinned source release, downloaded.
#      An archive, given or downloaded, must have the SHA-256 FACEDGE_NCNN_SHA256 (env or
#      cache variable; default: the release below) or the build stops and says so.
#
# ncnn is built at configure time (not as an ExternalProject) so that a cache hit
# costs nothing and every later facedge build links a finished static library.

set(FACEDGE_NCNN_VERSION 20261020)
# The ncnn 20261020 source as published on PyPI (the `ncnn` sdist: CMakeLists.txt, cmake/,
# src/). Its SHA-256 is the one PyPI's index lists for the file (pip --require-hashes
# checked it) and the one of the archive the development machines build from.
# GitHub's tag tarball of the same release is another file with another hash, not
# pinned here: building from it needs FACEDGE_NCNN_SHA256 set to its hash.
set(FACEDGE_NCNN_URL "https://files.pythonhosted.org/packages/b7/50/32b5172afe7d3e0dce410b7d8f4a5b7b84b942a0d69affbaedf669de52bc/ncnn-1.0.20261020.tar.gz")
set(FACEDGE_NCNN_RELEASE_SHA256 ad8cdd63e9755cfa8e23b9b6d9ce46156077d80298a89e7c3ba325ffccfca200)

# (ncnn_DIR also ends up set by our own find_package below: only a different value is the user's)
if((DEFINED ncnn_DIR AND NOT "${ncnn_DIR}" STREQUAL "${FACEDGE_NCNN_CACHED_DIR}") OR DEFINED ENV{ncnn_DIR})
  find_package(ncnn CONFIG REQUIRED)
  message(STATUS "facedge: using installed ncnn from ${ncnn_DIR}")
  return()
endif()

# Layers the supported detectors (and pnnx's / ncnn2int8's output for them) use,
# the layers ncnn creates internally, and a margin of cheap common ones.
set(FACEDGE_NCNN_LAYERS
  AbsVal BatchNorm Bias BinaryOp Cast Clip Concat Convolution ConvolutionDepthWise
  Crop Deconvolution Dequantize Dropout ELU Eltwise Exp ExpandDims Flatten Gemm
  HardSigmoid HardSwish InnerProduct Input Interp Log MemoryData Mish Noop Packing
  Padding Permute Pooling Power PReLU Quantize Reduction ReLU Requantize Reshape
  Scale ShuffleChannel Sigmoid Slice Softmax Split Squeeze Swish TanH Tile UnaryOp)

set(_ncnn_options
  -DNCNN_VERSION=${FACEDGE_NCNN_VERSION}
  -DCMAKE_BUILD_TYPE=Release
  -DNCNN_SHARED_LIB=OFF -DNCNN_VULKAN=OFF -DNCNN_OPENMP=ON
  -DNCNN_BUILD_TOOLS=OFF -DNCNN_BUILD_BENCHMARK=OFF -DNCNN_BUILD_EXAMPLES=OFF
  -DNCNN_BUILD_TESTS=OFF -DNCNN_PYTHON=OFF -DNCNN_C_API=OFF
  -DNCNN_PIXEL_DRAWING=OFF -DNCNN_PIXEL_AFFINE=OFF -DNCNN_PIXEL_ROTATE=ON
  -DNCNN_INT8=ON -DNCNN_BF16=ON -DNCNN_DISABLE_RTTI=OFF -DNCNN_DISABLE_EXCEPTION=OFF
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i.86)$")
  # Runtime dispatch between every x86 variant a face model's layers can use: SSE2,
  # AVX, FMA/F16C, AVX2, AVX-VNNI (and AVX-VNNI-INT8 where the compiler has it),
  # AVX-512 and AVX-512 VNNI, as the stock ncnn wheel does. Converting, calibrating
  # and benchmarking happen on such x86 machines; without the AVX-512 and VNNI
  # kernels facedge ran slower there than the stock wheel and int8 gained nothing.
  # bf16 storage (NCNN_BF16, above) is built so that `bf16=True` runs, and is tested, on
  # a laptop too: its plain SSE/AVX bf16 paths round float -> bf16 as ncnn's NEON ones
  # do (+0x8000, ties away) and compute in fp32. Close to a Pi 4's bf16, not equal: x86
  # has no bf16 depthwise convolution (it runs fp32 there). Left out: the AVX-512 BF16
  # and AVX-NE-CONVERT variants (their dot products and round-to-nearest-even move
  # further from the Pi's arithmetic, no Pi has them, and each is one more compile of
  # every bf16 layer), AVX-512 FP16 (no kernel for these layers), and AMD's
  # discontinued FMA4/XOP.
  list(APPEND _ncnn_options -DNCNN_RUNTIME_CPU=ON -DNCNN_AVX512=ON -DNCNN_AVX512VNNI=ON
       -DNCNN_AVXVNNI=ON -DNCNN_AVX512BF16=OFF -DNCNN_AVX512FP16=OFF
       -DNCNN_FMA4=OFF -DNCNN_XOP=OFF -DNCNN_AVXNECONVERT=OFF)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  # Raspberry Pi 4 and 5 from one binary: armv8.0 kernels as the baseline (Cortex-A72),
  # the armv8.2 fp16 and dot-product variants chosen at run time from HWCAP on a Pi 5
  # (Cortex-A76). bf16 storage (NCNN_BF16) is in the baseline: plain NEON converts
  # (shifts), so an armv8.0 Pi 4, which has no fp16 storage kernels, halves the bytes its
  # blobs and weights move through DRAM (`bf16=True`). Where a Pi 5 has fp16 storage,
  # ncnn prefers that. fp16fml, the armv8.4 bf16 dot-product instructions, i8mm and
  # SVE: no Pi has them, and each variant costs build time.
  list(APPEND _ncnn_options -DNCNN_RUNTIME_CPU=ON -DNCNN_ARM82=ON -DNCNN_ARM82DOT=ON
       -DNCNN_ARM82FP16FML=OFF -DNCNN_ARM84BF16=OFF -DNCNN_ARM84I8MM=OFF -DNCNN_ARM86SVE=OFF
       -DNCNN_ARM86SVE2=OFF -DNCNN_ARM86SVEBF16=OFF -DNCNN_ARM86SVEI8MM=OFF -DNCNN_ARM86SVEF32MM=OFF)
endif()
if(CMAKE_TOOLCHAIN_FILE)
  list(APPEND _ncnn_options -DCMAKE_TOOLCHAIN_FILE=${CMAKE_TOOLCHAIN_FILE})
endif()
list(APPEND _ncnn_options ${FACEDGE_NCNN_EXTRA_OPTIONS})

# WITH_LAYER_* switches: everything off but the list.
file(READ "${CMAKE_CURRENT_LIST_DIR}/ncnn_layers.txt" _all_layers)
string(REGEX REPLACE "[\r\n]+" ";" _all_layers "${_all_layers}")
foreach(_layer IN LISTS _all_layers)
  if(_layer STREQUAL "")
    continue()
  endif()
  string(TOLOWER "${_layer}" _option)  # ncnn's option names are lower case
  if(_layer IN_LIST FACEDGE_NCNN_LAYERS)
    list(APPEND _ncnn_options -DWITH_LAYER_${_option}=ON)
  else()
    list(APPEND _ncnn_options -DWITH_LAYER_${_option}=OFF)
  endif()
endforeach()

if(NOT FACEDGE_CACHE_DIR)
  if(DEFINED ENV{FACEDGE_CACHE_DIR})
    set(FACEDGE_CACHE_DIR "$ENV{FACEDGE_CACHE_DIR}")
  elseif(DEFINED ENV{XDG_CACHE_HOME})
    set(FACEDGE_CACHE_DIR "$ENV{XDG_CACHE_HOME}/facedge")
  else()
    set(FACEDGE_CACHE_DIR "$ENV{HOME}/.cache/facedge")
  endif()
endif()

# The cache key covers everything that changes the binary: version, options,
# compiler (by identity and version, not path: c++ and g++ are one compiler), target.
# A toolchain file counts by its content (compilers, ISA flags), not by its path, so
# that checkouts in different folders share one cross build.
set(_key_options ${_ncnn_options})
if(CMAKE_TOOLCHAIN_FILE)
  file(SHA256 "${CMAKE_TOOLCHAIN_FILE}" _toolchain_sha)
  list(TRANSFORM _key_options REPLACE "^-DCMAKE_TOOLCHAIN_FILE=.*$" "-DCMAKE_TOOLCHAIN_FILE=sha256:${_toolchain_sha}")
endif()
string(JOIN " " _key_text ${_key_options} ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}
       ${CMAKE_SYSTEM_PROCESSOR})
string(SHA256 _key "${_key_text}")
string(SUBSTRING "${_key}" 0 12 _key)
set(_prefix "${FACEDGE_CACHE_DIR}/ncnn/${FACEDGE_NCNN_VERSION}-${CMAKE_SYSTEM_PROCESSOR}-${_key}")
set(_install "${_prefix}/install")

file(MAKE_DIRECTORY "${_prefix}")
file(LOCK "${_prefix}/.lock" TIMEOUT 3600)  # two concurrent builds share one ncnn build

if(NOT EXISTS "${_install}/.complete")
  if(NOT FACEDGE_NCNN_SOURCE AND DEFINED ENV{FACEDGE_NCNN_SOURCE})
    set(FACEDGE_NCNN_SOURCE "$ENV{FACEDGE_NCNN_SOURCE}")
  endif()
  if(NOT FACEDGE_NCNN_SHA256 AND DEFINED ENV{FACEDGE_NCNN_SHA256})
    set(FACEDGE_NCNN_SHA256 "$ENV{FACEDGE_NCNN_SHA256}")
  endif()
  if(FACEDGE_NCNN_SHA256)
    string(TOLOWER "${FACEDGE_NCNN_SHA256}" _expected_sha256)
  else()
    set(_expected_sha256 "${FACEDGE_NCNN_RELEASE_SHA256}")
  endif()
  set(_src_root "${_prefix}/src")
  file(REMOVE_RECURSE "${_src_root}" "${_prefix}/build" "${_install}")
  if(FACEDGE_NCNN_SOURCE AND IS_DIRECTORY "${FACEDGE_NCNN_SOURCE}")
    set(_src "${FACEDGE_NCNN_SOURCE}")
  else()
    if(FACEDGE_NCNN_SOURCE)
      if(NOT EXISTS "${FACEDGE_NCNN_SOURCE}")
        message(FATAL_ERROR "FACEDGE_NCNN_SOURCE=${FACEDGE_NCNN_SOURCE}: no such file or folder (expected an ncnn ${FACEDGE_NCNN_VERSION} source archive or folder)")
      endif()
      set(_archive "${FACEDGE_NCNN_SOURCE}")
    else()
      set(_archive "${_prefix}/ncnn-${FACEDGE_NCNN_VERSION}.tar.gz")
      message(STATUS "facedge: downloading ncnn ${FACEDGE_NCNN_VERSION} from ${FACEDGE_NCNN_URL}")
      file(DOWNLOAD "${FACEDGE_NCNN_URL}" "${_archive}" STATUS _dl EXPECTED_HASH SHA256=${_expected_sha256})
      list(GET _dl 0 _dl_code)
      if(NOT _dl_code EQUAL 0)
        file(REMOVE "${_archive}")
        message(FATAL_ERROR "facedge: could not download ncnn (${_dl}). Offline? Set FACEDGE_NCNN_SOURCE to an ncnn ${FACEDGE_NCNN_VERSION} source archive or folder, or ncnn_DIR to an installed ncnn.")
      endif()
    endif()
    file(SHA256 "${_archive}" _archive_sha256)
    if(NOT _archive_sha256 STREQUAL _expected_sha256)
      message(FATAL_ERROR "facedge: ${_archive} has SHA-256 ${_archive_sha256}, expected ${_expected_sha256} "
              "(the ncnn ${FACEDGE_NCNN_VERSION} source release); refusing to build from it. If you trust this "
              "archive, set FACEDGE_NCNN_SHA256=${_archive_sha256}.")
    endif()
    file(ARCHIVE_EXTRACT INPUT "${_archive}" DESTINATION "${_src_root}")
    file(GLOB _top LIST_DIRECTORIES true "${_src_root}/*")
    list(LENGTH _top _ntop)
    if(_ntop EQUAL 1 AND IS_DIRECTORY "${_top}")
      set(_src "${_top}")
    else()
      set(_src "${_src_root}")
    endif()
  endif()
  if(NOT EXISTS "${_src}/src/net.h")
    message(FATAL_ERROR "facedge: ${_src} does not look like ncnn source (no src/net.h)")
  endif()

  cmake_host_system_information(RESULT _ncpu QUERY NUMBER_OF_LOGICAL_CORES)
  # fewer jobs where memory is short (a Raspberry Pi with 1 or 2 GB)
  if(DEFINED ENV{CMAKE_BUILD_PARALLEL_LEVEL} AND "$ENV{CMAKE_BUILD_PARALLEL_LEVEL}" MATCHES "^[1-9][0-9]*$")
    set(_ncpu "$ENV{CMAKE_BUILD_PARALLEL_LEVEL}")
  endif()
  message(STATUS "facedge: building ncnn ${FACEDGE_NCNN_VERSION} into ${_install} (${_ncpu} jobs; once per version and options, takes minutes)")
  execute_process(
    COMMAND ${CMAKE_COMMAND} -S "${_src}" -B "${_prefix}/build" -G "${CMAKE_GENERATOR}"
            -DCMAKE_INSTALL_PREFIX=${_install} -DCMAKE_C_COMPILER=${CMAKE_C_COMPILER}
            -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER} ${_ncnn_options}
    OUTPUT_FILE "${_prefix}/configure.log" ERROR_FILE "${_prefix}/configure.log"
    RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "facedge: configuring ncnn failed; see ${_prefix}/configure.log")
  endif()
  # (two execute_process calls: COMMANDs inside one run as a concurrent pipeline)
  execute_process(
    COMMAND ${CMAKE_COMMAND} --build "${_prefix}/build" --parallel ${_ncpu}
    OUTPUT_FILE "${_prefix}/build.log" ERROR_FILE "${_prefix}/build.log"
    RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "facedge: building ncnn failed; see ${_prefix}/build.log")
  endif()
  execute_process(
    COMMAND ${CMAKE_COMMAND} --install "${_prefix}/build"
    OUTPUT_FILE "${_prefix}/install.log" ERROR_FILE "${_prefix}/install.log"
    RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "facedge: installing ncnn failed; see ${_prefix}/install.log")
  endif()
  file(WRITE "${_install}/.complete" "${_key_text}\n")
  file(REMOVE_RECURSE "${_prefix}/build" "${_src_root}")
endif()
file(LOCK "${_prefix}/.lock" RELEASE)

set(FACEDGE_NCNN_PREFIX "${_install}" CACHE INTERNAL "")
# A build folder kept from an earlier configure holds the ncnn_DIR of that time: with
# other options (a new cache key) find_package would keep using the old build.
unset(ncnn_DIR CACHE)
find_package(ncnn CONFIG REQUIRED PATHS "${_install}" NO_DEFAULT_PATH)
set(FACEDGE_NCNN_CACHED_DIR "${ncnn_DIR}" CACHE INTERNAL "")
message(STATUS "facedge: using cached ncnn ${_install}")
