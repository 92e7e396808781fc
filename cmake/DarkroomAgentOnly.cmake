# DARKROOM_AGENT_ONLY: what runs on a phone, for the static aarch64 cross build (no Qt, no
# LibTorch, no SQLite): the kernels, the flash I/O engine and darkroom-agent.
set(DARKROOM_CUDA_ENABLED OFF)
find_package(Threads REQUIRED)
add_subdirectory(kernels)
add_subdirectory(device_bridge/agent)
