# Finds every external dependency. On Debian 12 all come from apt (scripts/install_deps.sh);
# an official LibTorch (e.g. a CUDA build) can be used via -DCMAKE_PREFIX_PATH=/path/to/libtorch.
find_package(Torch REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)
# stb_image decodes the images of dataset.data=folder (Debian's libstb-dev: headers and libstb).
find_package(PkgConfig REQUIRED)
pkg_check_modules(STB REQUIRED IMPORTED_TARGET stb)

# Torch's exported flags carry its own definitions (e.g. _GLIBCXX_USE_CXX11_ABI).
set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")

# yaml-cpp's Debian config exports the target as `yaml-cpp`; older configs only set variables.
if(NOT TARGET yaml-cpp AND YAML_CPP_LIBRARIES)
  add_library(yaml-cpp INTERFACE IMPORTED)
  set_target_properties(yaml-cpp PROPERTIES
    INTERFACE_LINK_LIBRARIES "${YAML_CPP_LIBRARIES}"
    INTERFACE_INCLUDE_DIRECTORIES "${YAML_CPP_INCLUDE_DIR}")
endif()
