// Helpers shared by client.cpp and sync.cpp: opening a connection to the server (starting it
// when allowed), sending a request and checking its status, switching to a device's transport.
#pragma once

#include <string>

#include "darkroom/adb/client.h"
#include "socket.h"

namespace darkroom::adb::detail {

// Connects to the server; when nothing listens and options.start_server, runs
// `adb -P PORT start-server` and connects again.
Connection openServer(const ServerAddress& address, const ClientOptions& options);
// Writes the request and reads OKAY (FAIL becomes AdbError with the server's message).
void request(Connection& conn, const std::string& payload);
// host:transport:SERIAL (host:transport-any for an empty serial), then `service` on the device.
Connection openService(const ServerAddress& address, const ClientOptions& options,
                       const std::string& serial, const std::string& service);

// Runs f; a ProtocolError (a reply that breaks the protocol) becomes an AdbError, so callers
// catch one family of errors for everything that went wrong talking to adb.
template <typename F>
decltype(auto) translateProtocolErrors(const std::string& what, F&& f) {
  try {
    return f();
  } catch (const ProtocolError& e) {
    throw AdbError(what + ": the adb server sent a malformed reply: " + e.what());
  }
}

}  // namespace darkroom::adb::detail
