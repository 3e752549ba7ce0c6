# libFuzzer targets, one per reader (fuzz/fuzz_<name>.cpp), with ASan and UBSan. They need clang,
# so use a build directory of their own; scripts/fuzz.sh configures, builds and runs them:
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -DPFEDHN_FUZZ=ON
#   cmake --build build-fuzz --target pfedhn_fuzzers
option(PFEDHN_FUZZ "Build the libFuzzer targets in fuzz/ (clang only)" OFF)
if(NOT PFEDHN_FUZZ)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR
    "PFEDHN_FUZZ=ON needs clang (libFuzzer); configure a separate build directory with "
    "CC=clang CXX=clang++, e.g. scripts/fuzz.sh")
endif()

set(PFEDHN_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=all)

file(GLOB PFEDHN_CONFIG_SOURCES CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/src/config/*.cpp")
# The readers and the little they use, instrumented for coverage; the fuzzers link only this.
add_library(pfedhn_fuzz_readers STATIC
  "${PROJECT_SOURCE_DIR}/src/data/readers.cpp"
  "${PROJECT_SOURCE_DIR}/src/data/catalog.cpp"
  ${PFEDHN_CONFIG_SOURCES}
  "${PROJECT_SOURCE_DIR}/src/io/archive_check.cpp"
  "${PROJECT_SOURCE_DIR}/src/io/checkpoint.cpp"
  "${PROJECT_SOURCE_DIR}/src/io/run_dir.cpp")
target_include_directories(pfedhn_fuzz_readers PUBLIC
  "${PROJECT_SOURCE_DIR}/include" "${PROJECT_SOURCE_DIR}")
target_compile_definitions(pfedhn_fuzz_readers PUBLIC PFEDHN_VERSION="${PROJECT_VERSION}")
target_link_libraries(pfedhn_fuzz_readers PUBLIC
  ${TORCH_LIBRARIES} yaml-cpp spdlog::spdlog fmt::fmt nlohmann_json::nlohmann_json ZLIB::ZLIB)
target_compile_options(pfedhn_fuzz_readers PUBLIC
  ${PFEDHN_FUZZ_SANITIZERS} -fno-omit-frame-pointer -g)
target_compile_options(pfedhn_fuzz_readers PRIVATE -fsanitize=fuzzer-no-link)
target_link_options(pfedhn_fuzz_readers PUBLIC ${PFEDHN_FUZZ_SANITIZERS})
pfedhn_set_warnings(pfedhn_fuzz_readers)

set(PFEDHN_FUZZERS idx cifar gzip config checkpoint)
set(PFEDHN_FUZZ_TARGETS)
foreach(name IN LISTS PFEDHN_FUZZERS)
  add_executable(pfedhn_fuzz_${name} "${PROJECT_SOURCE_DIR}/fuzz/fuzz_${name}.cpp")
  target_link_libraries(pfedhn_fuzz_${name} PRIVATE pfedhn_fuzz_readers)
  target_compile_options(pfedhn_fuzz_${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(pfedhn_fuzz_${name} PRIVATE -fsanitize=fuzzer)
  pfedhn_set_warnings(pfedhn_fuzz_${name})
  list(APPEND PFEDHN_FUZZ_TARGETS pfedhn_fuzz_${name})
endforeach()

# Writes the seed corpora (valid inputs of each reader) so that no binary seed is committed.
add_executable(pfedhn_fuzz_seeds "${PROJECT_SOURCE_DIR}/fuzz/make_seeds.cpp")
target_link_libraries(pfedhn_fuzz_seeds PRIVATE pfedhn_fuzz_readers)
pfedhn_set_warnings(pfedhn_fuzz_seeds)

add_custom_target(pfedhn_fuzzers DEPENDS ${PFEDHN_FUZZ_TARGETS} pfedhn_fuzz_seeds)
