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

# The static aarch64 agent: this same source tree configured with the cross toolchain and
# DARKROOM_AGENT_ONLY, built as an external project of the host build (target darkroom_aarch64).
function(darkroom_add_aarch64_build)
  # Written with the cross build.
endfunction()
