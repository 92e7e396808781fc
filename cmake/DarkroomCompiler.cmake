# Compiler launcher and the warning policy for Darkroom's own targets.

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

# Linked PRIVATE by every Darkroom target: third-party headers come in as SYSTEM includes
# through their imported targets, so only our own code is held to these warnings.
add_library(darkroom_warnings INTERFACE)
target_compile_options(darkroom_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow=local -Wno-unused-parameter>)
if(DARKROOM_WERROR)
  target_compile_options(darkroom_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()
