# darkroom_flashio: the Neuralink flash I/O engine without LibTorch or SQLite, so that the
# static darkroom-agent on a phone replays layouts with the very code the host uses. It holds the
# layout reader/verifier and the synthetic layout writer, activation traces, the I/O engine (read
# planning, caches, the flash model, the readers), placement, safetensors and jobs.
#
# Included by core/CMakeLists.txt (the host build, where darkroom_core links it PUBLIC) and by
# cmake/DarkroomAgentOnly.cmake (the aarch64 cross build), so every path is relative to this
# file's folder. Needs Threads::Threads and darkroom_warnings; nlohmann/json.hpp comes from the
# nlohmann_json::nlohmann_json target when it exists, else from DARKROOM_NLOHMANN_INCLUDE_DIR.
set(DARKROOM_FLASHIO_DIR ${CMAKE_CURRENT_LIST_DIR})

add_library(darkroom_flashio STATIC
  ${DARKROOM_FLASHIO_DIR}/jobs/job_queue.cpp
  ${DARKROOM_FLASHIO_DIR}/model/safetensors.cpp
  ${DARKROOM_FLASHIO_DIR}/neuralink/trace.cpp
  ${DARKROOM_FLASHIO_DIR}/neuralink/coact.cpp
  ${DARKROOM_FLASHIO_DIR}/neuralink/greedy_path.cpp
  ${DARKROOM_FLASHIO_DIR}/neuralink/placement.cpp
  ${DARKROOM_FLASHIO_DIR}/neuralink/flash_layout.cpp
  ${DARKROOM_FLASHIO_DIR}/neuralink/io_engine.cpp
  ${DARKROOM_FLASHIO_DIR}/neuralink/read_planner.cpp
  ${DARKROOM_FLASHIO_DIR}/neuralink/caches.cpp
  ${DARKROOM_FLASHIO_DIR}/neuralink/flash_model.cpp)
target_include_directories(darkroom_flashio
  PUBLIC ${DARKROOM_FLASHIO_DIR}/include
  PRIVATE ${DARKROOM_FLASHIO_DIR})
target_link_libraries(darkroom_flashio PUBLIC Threads::Threads PRIVATE darkroom_warnings)
if(TARGET nlohmann_json::nlohmann_json)
  target_link_libraries(darkroom_flashio PRIVATE nlohmann_json::nlohmann_json)
elseif(DARKROOM_NLOHMANN_INCLUDE_DIR)
  target_include_directories(darkroom_flashio SYSTEM PRIVATE ${DARKROOM_NLOHMANN_INCLUDE_DIR})
else()
  message(FATAL_ERROR "darkroom_flashio needs nlohmann/json.hpp: find_package(nlohmann_json) "
                      "first, or set DARKROOM_NLOHMANN_INCLUDE_DIR to the folder holding "
                      "nlohmann/json.hpp")
endif()
set_target_properties(darkroom_flashio PROPERTIES POSITION_INDEPENDENT_CODE ON)

# io_uring for the I/O engine, on the host only (optional: the thread-pool reader needs
# nothing). Linked by name (-luring) from pkg-config's search path rather than through an imported
# target's full path, so a static link (darkroom-agent) picks liburing.a and a shared one the .so.
if(NOT CMAKE_CROSSCOMPILING)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(LIBURING QUIET liburing)
  endif()
endif()
if(LIBURING_FOUND)
  target_include_directories(darkroom_flashio SYSTEM PRIVATE ${LIBURING_INCLUDE_DIRS})
  target_link_directories(darkroom_flashio PUBLIC ${LIBURING_LIBRARY_DIRS})
  target_link_libraries(darkroom_flashio PRIVATE ${LIBURING_LIBRARIES})
  target_compile_definitions(darkroom_flashio PRIVATE DARKROOM_HAVE_LIBURING=1)
  message(STATUS "liburing ${LIBURING_VERSION}: the I/O engine can use io_uring")
else()
  message(STATUS "liburing not found (or cross-compiling): the I/O engine reads with a thread "
                 "pool only")
endif()
