# DARKROOM_AGENT_AARCH64=AUTO turns the static aarch64 build of darkroom-agent on when the
# cross compiler is installed (Debian: g++-aarch64-linux-gnu). The agent arrives with the device
# bridge; this only decides whether it will be cross-built.
set(DARKROOM_AGENT_AARCH64_ENABLED OFF)
if(NOT DARKROOM_AGENT_AARCH64 STREQUAL "OFF")
  find_program(DARKROOM_AARCH64_CXX aarch64-linux-gnu-g++)
  if(DARKROOM_AARCH64_CXX)
    set(DARKROOM_AGENT_AARCH64_ENABLED ON)
  elseif(DARKROOM_AGENT_AARCH64 STREQUAL "ON")
    message(FATAL_ERROR "DARKROOM_AGENT_AARCH64=ON but aarch64-linux-gnu-g++ was not found "
                        "(apt-get install g++-aarch64-linux-gnu)")
  endif()
endif()

# Where the host build finds the aarch64 agent once darkroom_add_aarch64_build() has built it.
set(DARKROOM_AGENT_AARCH64_PATH "${CMAKE_BINARY_DIR}/aarch64/device_bridge/agent/darkroom-agent")

include(ExternalProject)

# The static aarch64 agent: this same source tree configured with the cross toolchain and
# DARKROOM_AGENT_ONLY (cmake/DarkroomAgentOnly.cmake: the kernels, the flash I/O engine, the agent
# and, with DARKROOM_TESTS, kernel_tests; nothing with LibTorch or Qt), built into
# <build>/aarch64 as the external project darkroom_aarch64, part of `all`. It is built every time
# the host build is (BUILD_ALWAYS: its own Ninja decides what changed), through ccache like the
# host build, and held to the same DARKROOM_WERROR.
#
# With qemu-aarch64-static (Debian: qemu-user-static) the host's ctest then runs the aarch64
# programs too:
#   kernels.aarch64        kernel_tests: every NEON kernel against the scalar reference
#   agent.aarch64.info     darkroom-agent info: a valid info record naming cpu-neon, available
#   agent.aarch64.kernels  a short darkroom-agent kernels run: samples from cpu-neon, a result
# Timings under an emulator mean nothing; these tests check results only.
function(darkroom_add_aarch64_build)
  set(binary_dir "${CMAKE_BINARY_DIR}/aarch64")
  set(cmake_args
    -DCMAKE_TOOLCHAIN_FILE=${CMAKE_SOURCE_DIR}/cmake/aarch64-linux-gnu.cmake
    -DCMAKE_BUILD_TYPE=Release
    -DDARKROOM_AGENT_ONLY=ON
    -DDARKROOM_TESTS=${DARKROOM_TESTS}
    -DDARKROOM_WERROR=${DARKROOM_WERROR})
  if(CCACHE_PROGRAM)
    list(APPEND cmake_args -DCMAKE_C_COMPILER_LAUNCHER=${CCACHE_PROGRAM}
                           -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE_PROGRAM})
  endif()
  set(kernel_tests "${binary_dir}/tests/unit/kernel_tests")
  set(byproducts "${DARKROOM_AGENT_AARCH64_PATH}")
  if(DARKROOM_TESTS)
    list(APPEND byproducts "${kernel_tests}")
  endif()
  ExternalProject_Add(darkroom_aarch64
    SOURCE_DIR "${CMAKE_SOURCE_DIR}"
    BINARY_DIR "${binary_dir}"
    PREFIX "${CMAKE_BINARY_DIR}/aarch64-project"  # ExternalProject's stamps and scratch
    CMAKE_GENERATOR Ninja
    CMAKE_ARGS ${cmake_args}
    BUILD_ALWAYS ON
    INSTALL_COMMAND ""
    BUILD_BYPRODUCTS ${byproducts})

  if(NOT DARKROOM_TESTS)
    return()
  endif()
  find_program(DARKROOM_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
  if(NOT DARKROOM_QEMU_AARCH64)
    message(STATUS "qemu-aarch64-static not found: the aarch64 build is compiled but not tested "
                   "here (apt-get install qemu-user-static)")
    return()
  endif()

  # The cases that run NEON code (the reference-only ones ran natively already), at the small
  # sizes of tests/unit/kernels/test_sizes.h: under qemu the scalar reference is slow (about 30 s
  # on two cores). Two OpenMP threads, which ctest counts (PROCESSORS) when it runs tests side by side.
  add_test(NAME kernels.aarch64
           COMMAND ${DARKROOM_QEMU_AARCH64} ${kernel_tests} --gtest_filter=-*.Reference*)
  set_tests_properties(kernels.aarch64 PROPERTIES
    ENVIRONMENT "DARKROOM_KERNEL_TEST_SIZES=small;OMP_NUM_THREADS=2"
    PROCESSORS 2 TIMEOUT 300 LABELS aarch64)

  # The agent, checked by cmake/DarkroomAgentCheck.cmake, each run in a work folder of its own.
  set(check "${CMAKE_SOURCE_DIR}/cmake/DarkroomAgentCheck.cmake")
  set(workdirs "${CMAKE_BINARY_DIR}/aarch64-agent-tests")
  add_test(NAME agent.aarch64.info
           COMMAND ${CMAKE_COMMAND} -DQEMU=${DARKROOM_QEMU_AARCH64}
                   -DAGENT=${DARKROOM_AGENT_AARCH64_PATH} -DWORKDIR=${workdirs}/info
                   -DSUBCOMMAND=info -P ${check})
  add_test(NAME agent.aarch64.kernels
           COMMAND ${CMAKE_COMMAND} -DQEMU=${DARKROOM_QEMU_AARCH64}
                   -DAGENT=${DARKROOM_AGENT_AARCH64_PATH} -DWORKDIR=${workdirs}/kernels
                   -DSUBCOMMAND=kernels "-DARGS=--batches 1,3 --rows 96 --cols 160 --backend cpu"
                   -P ${check})
  set_tests_properties(agent.aarch64.info agent.aarch64.kernels PROPERTIES
    ENVIRONMENT "OMP_NUM_THREADS=2" TIMEOUT 180 LABELS aarch64)
endfunction()
