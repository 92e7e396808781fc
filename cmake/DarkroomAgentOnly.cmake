# DARKROOM_AGENT_ONLY: what runs on a phone, for the static aarch64 cross build (no Qt, no
# LibTorch, no SQLite): the kernels, the flash I/O engine and darkroom-agent, and with
# DARKROOM_TESTS the kernel tests (which the host build runs under qemu). Included by the
# top-level CMakeLists.txt, which returns right after.
set(DARKROOM_CUDA_ENABLED OFF)
# The phone gets one static binary (the toolchain file links with -static): find_library must pick
# the static archives (libgomp.a for OpenMP), never a shared object the linker would refuse.
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
find_package(Threads REQUIRED)

# nlohmann/json is header-only, so the host's copy (Debian: nlohmann-json3-dev) serves any target.
# /usr/include itself must never reach a cross compiler's include path (it holds the host's libc
# headers), so the build tree gets a folder holding only a link to the nlohmann folder, and the
# usual imported target points there.
set(DARKROOM_NLOHMANN_HEADERS /usr/include/nlohmann CACHE PATH
    "The folder holding nlohmann/json's json.hpp (header-only: the host's copy serves the cross build)")
if(NOT EXISTS "${DARKROOM_NLOHMANN_HEADERS}/json.hpp")
  message(FATAL_ERROR "nlohmann/json not found: ${DARKROOM_NLOHMANN_HEADERS}/json.hpp does not exist "
                      "(apt-get install nlohmann-json3-dev, or pass -DDARKROOM_NLOHMANN_HEADERS=<dir>)")
endif()
set(DARKROOM_NLOHMANN_INCLUDE_DIR "${CMAKE_BINARY_DIR}/include-nlohmann")
file(MAKE_DIRECTORY "${DARKROOM_NLOHMANN_INCLUDE_DIR}")
file(CREATE_LINK "${DARKROOM_NLOHMANN_HEADERS}" "${DARKROOM_NLOHMANN_INCLUDE_DIR}/nlohmann" SYMBOLIC)
if(NOT TARGET nlohmann_json::nlohmann_json)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED GLOBAL)
  # Imported include folders are SYSTEM includes: the library's code is not held to our warnings.
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${DARKROOM_NLOHMANN_INCLUDE_DIR}")
endif()

add_subdirectory(kernels)
# The flash I/O engine without LibTorch (target darkroom_flashio), where the tree has it.
if(EXISTS "${CMAKE_SOURCE_DIR}/core/flashio.cmake")
  include("${CMAKE_SOURCE_DIR}/core/flashio.cmake")
endif()
add_subdirectory(device_bridge/agent)

if(DARKROOM_TESTS)
  # GoogleTest from its sources (Debian: libgtest-dev puts them in /usr/src/googletest): the
  # installed libgtest.a is built for the host.
  set(DARKROOM_GTEST_SOURCES /usr/src/googletest CACHE PATH "GoogleTest's source tree")
  if(NOT EXISTS "${DARKROOM_GTEST_SOURCES}/CMakeLists.txt")
    message(FATAL_ERROR "GoogleTest sources not found in ${DARKROOM_GTEST_SOURCES} (apt-get install "
                        "libgtest-dev, pass -DDARKROOM_GTEST_SOURCES=<dir>, or -DDARKROOM_TESTS=OFF)")
  endif()
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory("${DARKROOM_GTEST_SOURCES}" "${CMAKE_BINARY_DIR}/googletest" EXCLUDE_FROM_ALL SYSTEM)
  enable_testing()
  add_subdirectory(tests/unit/kernels)
endif()

if(TARGET darkroom_flashio)
  set(darkroom_flashio_built yes)
else()
  set(darkroom_flashio_built no)
endif()
message(STATUS "Darkroom (agent only): ${CMAKE_SYSTEM_PROCESSOR}, flashio=${darkroom_flashio_built} "
               "tests=${DARKROOM_TESTS} Werror=${DARKROOM_WERROR}")
