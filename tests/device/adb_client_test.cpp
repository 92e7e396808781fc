// The adb client against a scripted fake adb server: a listener on 127.0.0.1:0 that runs one
// script per accepted connection (host services, transport + shell v2, sync push/pull/stat),
// plus one test against the real adb server on a private port when `adb` is installed.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "darkroom/adb/client.h"

using namespace darkroom::adb;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using darkroom::test::randomBytes;
using darkroom::test::TempDir;
using darkroom::test::rng;

namespace {

// One accepted connection on the fake server's side. Every read waits at most 10 s, so a
// broken test fails instead of hanging.
class FakeConn {
 public:
  explicit FakeConn(int fd) : fd_(fd) {}
  ~FakeConn() { ::close(fd_); }

  std::string readExact(std::size_t n) {
    std::string out;
    while (out.size() < n) {
      char buf[65536];
      const std::size_t want = std::min(sizeof buf, n - out.size());
      const ssize_t r = recvWithin(buf, want, 10s);
      if (r <= 0) {
        throw std::runtime_error("fake server: client closed after " +
                                 std::to_string(out.size()) + " of " + std::to_string(n) +
                                 " bytes");
      }
      out.append(buf, static_cast<std::size_t>(r));
    }
    return out;
  }
  std::string readRequest() { return readExact(parseLengthPrefix(readExact(4))); }
  void expectRequest(const std::string& payload) {
    const std::string got = readRequest();
    if (got != payload) {
      throw std::runtime_error("fake server: expected request " + printableBytes(payload, 200) +
                               ", got " + printableBytes(got, 200));
    }
  }
  void send(std::string_view bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("fake server: send failed");
      sent += static_cast<std::size_t>(n);
    }
  }
  void okay() { send("OKAY"); }
  void okayWith(std::string_view payload) { send("OKAY" + encodeRequest(payload)); }
  void fail(std::string_view message) { send(encodeFail(message)); }
  // host:transport:SERIAL then the service, both answered OKAY.
  void expectService(const std::string& serial, const std::string& service) {
    expectRequest("host:transport:" + serial);
    okay();
    expectRequest(service);
    okay();
  }
  SyncHeader readSyncHeader() { return parseSyncHeader(readExact(kSyncHeaderBytes)); }
  // Reads and discards until the client closes; returns the byte count. Fails after `limit`.
  std::size_t drainUntilClosed(std::chrono::milliseconds limit = 10s) {
    std::size_t total = 0;
    char buf[65536];
    for (;;) {
      const ssize_t r = recvWithin(buf, sizeof buf, limit);
      if (r <= 0) return total;
      total += static_cast<std::size_t>(r);
    }
  }
  // Shell v2: reads the client's CloseStdin packet.
  void expectCloseStdin() {
    const std::string p = readExact(5);
    if (p != encodeShellPacket(ShellPacketId::CloseStdin, {})) {
      throw std::runtime_error("fake server: expected a close-stdin packet, got " +
                               printableBytes(p));
    }
  }

 private:
  ssize_t recvWithin(char* buf, std::size_t n, std::chrono::milliseconds limit) {
    pollfd p{fd_, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(limit.count()));
    if (rc == 0) throw std::runtime_error("fake server: nothing from the client for 10 s");
    return ::recv(fd_, buf, n, 0);
  }
  int fd_;
};

// Listens on 127.0.0.1:0 and runs handlers[i] on the i-th accepted connection, each in its own
// thread. A handler's exception is a test failure.
class FakeServer {
 public:
  using Handler = std::function<void(FakeConn&)>;
  explicit FakeServer(std::vector<Handler> handlers) : handlers_(std::move(handlers)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
      throw std::runtime_error("fake server: cannot listen");
    }
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~FakeServer() { finish(); }

  ServerAddress address() const {
    ServerAddress a;
    a.port = port_;
    return a;
  }
  Client client(std::chrono::milliseconds timeout = 5000ms) const {
    ClientOptions o;
    o.timeout = timeout;
    o.start_server = false;
    return Client(address(), o);
  }
  // Waits for every handler to end; returns how many connections were accepted.
  int finish() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : workers_) t.join();
    workers_.clear();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    return accepted_;
  }
  int accepted() const { return accepted_; }

 private:
  void acceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      const int index = accepted_++;
      workers_.emplace_back([this, fd, index] {
        FakeConn conn(fd);
        if (index >= static_cast<int>(handlers_.size())) {
          ADD_FAILURE() << "fake server: unexpected connection #" << index;
          return;
        }
        try {
          handlers_[static_cast<std::size_t>(index)](conn);
        } catch (const std::exception& e) {
          ADD_FAILURE() << "fake server connection #" << index << ": " << e.what();
        }
      });
    }
  }

  std::vector<Handler> handlers_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

std::string shellExitPacket(int code) {
  return encodeShellPacket(ShellPacketId::Exit, std::string(1, static_cast<char>(code)));
}

void writeFile(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string readFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

template <typename E, typename F>
std::string messageOf(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception: ") + e.what();
  }
  return "(no exception)";
}

// What the fake device received in one push.
struct PushSeen {
  std::string spec;  // "path,mode"
  std::string data;
  std::uint32_t mtime = 0;
  std::size_t chunks = 0;
  std::size_t largest_chunk = 0;
  bool done = false;
  bool quit = false;
};

// Receives a whole push and answers OKAY (or `fail_message` as FAIL, when given).
FakeServer::Handler pushReceiver(PushSeen& seen, const std::string& serial,
                                 std::string fail_message = {}) {
  return [&seen, serial, fail_message](FakeConn& c) {
    c.expectService(serial, "sync:");
    SyncHeader h = c.readSyncHeader();
    if (h.id != "SEND") throw std::runtime_error("expected SEND, got " + h.id);
    seen.spec = c.readExact(h.arg);
    for (;;) {
      h = c.readSyncHeader();
      if (h.id == "DATA") {
        if (h.arg > kSyncDataMax) throw std::runtime_error("DATA chunk over 64 KiB");
        seen.data += c.readExact(h.arg);
        ++seen.chunks;
        seen.largest_chunk = std::max<std::size_t>(seen.largest_chunk, h.arg);
      } else if (h.id == "DONE") {
        seen.mtime = h.arg;
        seen.done = true;
        break;
      } else {
        throw std::runtime_error("unexpected sync id " + h.id);
      }
    }
    if (!fail_message.empty()) {
      c.send(encodeSyncHeader("FAIL", static_cast<std::uint32_t>(fail_message.size())) +
             fail_message);
      return;
    }
    c.send(encodeSyncHeader("OKAY", 0));
    h = c.readSyncHeader();
    seen.quit = h.id == "QUIT";
  };
}

// The cleanup a push does after a failure: `rm -f REMOTE` through shell v2.
FakeServer::Handler expectRemoveRemote(const std::string& serial, const std::string& remote,
                                       std::atomic<bool>& removed) {
  return [serial, remote, &removed](FakeConn& c) {
    c.expectService(serial, "shell,v2,raw:" + shellCommand({"rm", "-f", remote}));
    c.expectCloseStdin();
    c.send(shellExitPacket(0));
    removed = true;
  };
}

}  // namespace

// --- host services -----------------------------------------------------------------------------

TEST(AdbClient, ServerVersionIsHex) {
  FakeServer server({[](FakeConn& c) {
    c.expectRequest("host:version");
    c.okayWith("0029");
  }});
  EXPECT_EQ(server.client().serverVersion(), 41);
}

TEST(AdbClient, DevicesParsesTheLongListing) {
  const std::vector<DeviceEntry> listed = {
      {"emulator-5554", "device", {{"model", "sdk"}, {"transport_id", "1"}}},
      {"127.0.0.1:40123", "offline", {}},
  };
  FakeServer server({[&](FakeConn& c) {
    c.expectRequest("host:devices-l");
    c.okayWith("emulator-5554          device model:sdk transport_id:1\n127.0.0.1:40123\toffline\n");
  }});
  EXPECT_EQ(server.client().devices(), listed);
}

TEST(AdbClient, FailReplyCarriesTheServerMessage) {
  FakeServer server({[](FakeConn& c) {
    c.expectRequest("host:transport:ghost");
    c.fail("device 'ghost' not found");
  }});
  const std::string e =
      messageOf<AdbError>([&] { server.client().shell("ghost", {"true"}); });
  EXPECT_NE(e.find("device 'ghost' not found"), std::string::npos) << e;
  EXPECT_NE(e.find("host:transport:ghost"), std::string::npos) << e;
}

TEST(AdbClient, ServerClosingMidReplyIsAClearError) {
  FakeServer server({[](FakeConn& c) {
    c.expectRequest("host:devices-l");
    c.send("OKAY0040emulator-5554\tdev");  // 64 bytes announced, 17 sent
  }});
  const std::string e = messageOf<AdbError>([&] { server.client().devices(); });
  EXPECT_NE(e.find("17 of 64 bytes"), std::string::npos) << e;
  EXPECT_NE(e.find("went away"), std::string::npos) << e;
  EXPECT_NE(e.find("host:devices-l"), std::string::npos) << e;
}

TEST(AdbClient, MalformedReplyIsAnAdbErrorQuotingTheBytes) {
  FakeServer server({[](FakeConn& c) {
                       c.expectRequest("host:devices-l");
                       c.send("OKAYzz12");
                     },
                     [](FakeConn& c) {
                       c.expectRequest("host:version");
                       c.send("WHAT");
                     }});
  const std::string e = messageOf<AdbError>([&] { server.client().devices(); });
  EXPECT_NE(e.find("zz12"), std::string::npos) << e;
  const std::string e2 = messageOf<AdbError>([&] { server.client().serverVersion(); });
  EXPECT_NE(e2.find("WHAT"), std::string::npos) << e2;
}

TEST(AdbClient, ServerThatNeverAnswersTimesOut) {
  FakeServer server({[](FakeConn& c) {
    c.expectRequest("host:devices-l");
    c.drainUntilClosed();
  }});
  const auto start = std::chrono::steady_clock::now();
  const std::string e = messageOf<AdbTimeout>([&] { server.client(300ms).devices(); });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_NE(e.find("300 ms"), std::string::npos) << e;
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 3s);
}

TEST(AdbClient, NoServerAndNoStartIsAClearError) {
  // A port nobody listens on: bind one, then close it.
  int port = 0;
  {
    FakeServer s({});
    port = s.address().port;
  }
  ClientOptions o;
  o.start_server = false;
  o.timeout = 1000ms;
  ServerAddress a;
  a.port = port;
  const std::string e = messageOf<AdbError>([&] { Client(a, o).ensureServer(); });
  EXPECT_NE(e.find(std::to_string(port)), std::string::npos) << e;
  EXPECT_NE(e.find("start-server"), std::string::npos) << e;
}

TEST(AdbClient, MissingAdbBinaryNamesThePackage) {
  int port = 0;
  {
    FakeServer s({});
    port = s.address().port;
  }
  ClientOptions o;
  o.adb_binary = "darkroom-no-such-adb-binary";
  o.timeout = 1000ms;
  ServerAddress a;
  a.port = port;
  const std::string e = messageOf<AdbError>([&] { Client(a, o).ensureServer(); });
  EXPECT_NE(e.find("adb not found: install the Debian package adb"), std::string::npos) << e;
}

TEST(AdbClient, ServerPortFromEnvironment) {
  ::setenv("ANDROID_ADB_SERVER_PORT", "15123", 1);
  EXPECT_EQ(ServerAddress::fromEnvironment().port, 15123);
  ::setenv("ANDROID_ADB_SERVER_PORT", "70000", 1);
  EXPECT_THROW(ServerAddress::fromEnvironment(), AdbError);
  ::setenv("ANDROID_ADB_SERVER_PORT", "12ab", 1);
  EXPECT_THROW(ServerAddress::fromEnvironment(), AdbError);
  ::unsetenv("ANDROID_ADB_SERVER_PORT");
  EXPECT_EQ(ServerAddress::fromEnvironment().port, 5037);
}

TEST(AdbClient, ConnectReturnsTheTextAndThrowsOnFailure) {
  FakeServer server({[](FakeConn& c) {
                       c.expectRequest("host:connect:127.0.0.1:40001");
                       c.okayWith("connected to 127.0.0.1:40001");
                     },
                     [](FakeConn& c) {
                       c.expectRequest("host:connect:127.0.0.1:40002");
                       c.okayWith("failed to connect to '127.0.0.1:40002': Connection refused");
                     },
                     [](FakeConn& c) {
                       c.expectRequest("host:disconnect:127.0.0.1:40001");
                       c.okayWith("disconnected 127.0.0.1:40001");
                     }});
  Client client = server.client();
  EXPECT_EQ(client.connect("127.0.0.1:40001"), "connected to 127.0.0.1:40001");
  const std::string e = messageOf<AdbError>([&] { client.connect("127.0.0.1:40002"); });
  EXPECT_NE(e.find("Connection refused"), std::string::npos) << e;
  EXPECT_EQ(client.disconnect("127.0.0.1:40001"), "disconnected 127.0.0.1:40001");
}

TEST(AdbClient, TrackDevicesDeliversUpdatesThenStops) {
  const std::vector<std::vector<DeviceEntry>> updates = {
      {{"a", "offline", {}}},
      {{"a", "device", {{"model", "M"}}}, {"b", "unauthorized", {}}},
      {},
  };
  FakeServer server({[&](FakeConn& c) {
    c.expectRequest("host:track-devices-l");
    c.okay();
    c.send(encodeRequest(formatDeviceList(updates[0])));
    std::this_thread::sleep_for(30ms);
    // One update in two pieces: the client must wait for the rest.
    const std::string second = encodeRequest(formatDeviceList(updates[1]));
    c.send(second.substr(0, 7));
    std::this_thread::sleep_for(30ms);
    c.send(second.substr(7));
    c.send(encodeRequest(formatDeviceList(updates[2])));
    c.drainUntilClosed();
  }});
  std::vector<std::vector<DeviceEntry>> seen;
  std::atomic<bool> stop{false};
  server.client().trackDevices(
      [&](const std::vector<DeviceEntry>& list) {
        seen.push_back(list);
        if (seen.size() == updates.size()) stop = true;
      },
      stop);
  EXPECT_EQ(seen, updates);
}

TEST(AdbClient, TrackDevicesStopsWhileIdleAndReportsAServerThatGoesAway) {
  FakeServer server({[](FakeConn& c) {
                       c.expectRequest("host:track-devices-l");
                       c.okay();
                       c.drainUntilClosed();  // no updates at all
                     },
                     [](FakeConn& c) {
                       c.expectRequest("host:track-devices-l");
                       c.okay();
                       c.send(encodeRequest("x\tdevice\n"));
                     }});
  std::atomic<bool> stop{false};
  std::thread raiser([&] {
    std::this_thread::sleep_for(150ms);
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  server.client(100ms).trackDevices([](const std::vector<DeviceEntry>&) {}, stop);
  raiser.join();
  // No per-read timeout while idle (100 ms would have fired and thrown), and the stop is seen
  // within a poll slice (200 ms; the bound leaves room for a loaded machine).
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);

  std::atomic<bool> never{false};
  int calls = 0;
  const std::string e = messageOf<AdbError>([&] {
    server.client().trackDevices([&](const std::vector<DeviceEntry>&) { ++calls; }, never);
  });
  EXPECT_EQ(calls, 1);
  EXPECT_NE(e.find("went away"), std::string::npos) << e;
}

// --- shell -------------------------------------------------------------------------------------

TEST(AdbClient, ShellCollectsStdoutStderrAndExitCodeAcrossAnySplit) {
  const std::string out = randomBytes(100000);
  const std::string err = "warning: \xff\n";
  std::string stream = encodeShellPacket(ShellPacketId::Stdout, out.substr(0, 70000)) +
                       encodeShellPacket(ShellPacketId::Stderr, err) +
                       encodeShellPacket(ShellPacketId::Stdout, out.substr(70000)) +
                       shellExitPacket(3);
  FakeServer server({[&](FakeConn& c) {
    c.expectService("SER1", "shell,v2,raw:'cat' 'a b' 'it'\\''s'");
    c.expectCloseStdin();
    // Irregular pieces with pauses so the client sees partial packets.
    std::size_t pos = 0;
    while (pos < stream.size()) {
      const std::size_t n = std::min<std::size_t>(stream.size() - pos, 1 + rng()() % 9000);
      c.send(std::string_view(stream).substr(pos, n));
      pos += n;
      if (rng()() % 8 == 0) std::this_thread::sleep_for(1ms);
    }
  }});
  const ShellResult r = server.client().shell("SER1", {"cat", "a b", "it's"});
  EXPECT_EQ(r.out, out);
  EXPECT_EQ(r.err, err);
  EXPECT_EQ(r.exit_code, 3);
}

TEST(AdbClient, ShellWithoutExitStatusIsAnError) {
  FakeServer server({[](FakeConn& c) {
    c.expectService("S", "shell,v2,raw:'true'");
    c.expectCloseStdin();
    c.send(encodeShellPacket(ShellPacketId::Stdout, "partial"));
  }});
  const std::string e = messageOf<AdbError>([&] { server.client().shell("S", {"true"}); });
  EXPECT_NE(e.find("without an exit status"), std::string::npos) << e;
}

TEST(AdbClient, ShellWholeCommandTimeout) {
  FakeServer server({[](FakeConn& c) {
    c.expectService("S", "shell,v2,raw:'yes'");
    c.expectCloseStdin();
    // Output keeps coming, so no single read times out; only the whole-command limit can end it.
    try {
      for (int i = 0; i < 200; ++i) {
        c.send(encodeShellPacket(ShellPacketId::Stdout, "y\n"));
        std::this_thread::sleep_for(20ms);
      }
    } catch (const std::exception&) {
      return;  // the client hung up: expected
    }
    throw std::runtime_error("the client did not stop the command");
  }});
  const auto start = std::chrono::steady_clock::now();
  const std::string e =
      messageOf<AdbTimeout>([&] { server.client(1000ms).shell("S", {"yes"}, 300ms); });
  EXPECT_NE(e.find("300 ms"), std::string::npos) << e;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);  // the message names the cause
}

TEST(AdbClient, ShellStreamDeliversChunksAndCancelClosesTheStream) {
  std::atomic<bool> closed_by_client{false};
  FakeServer server({[](FakeConn& c) {
                       c.expectService("S", "shell,v2,raw:echo hi; echo oops >&2");
                       c.expectCloseStdin();
                       c.send(encodeShellPacket(ShellPacketId::Stdout, "hi\n"));
                       c.send(encodeShellPacket(ShellPacketId::Stderr, "oops\n"));
                       c.send(shellExitPacket(0));
                     },
                     [&](FakeConn& c) {
                       c.expectService("S", "shell,v2,raw:monitor");
                       c.expectCloseStdin();
                       c.send(encodeShellPacket(ShellPacketId::Stdout, "sample 1\n"));
                       c.drainUntilClosed();
                       closed_by_client = true;
                     }});
  Client client = server.client();
  std::string out, err;
  EXPECT_EQ(client.shellStream(
                "S", "echo hi; echo oops >&2", [&](std::string_view s) { out.append(s); },
                [&](std::string_view s) { err.append(s); }),
            0);
  EXPECT_EQ(out, "hi\n");
  EXPECT_EQ(err, "oops\n");

  std::atomic<bool> cancel{false};
  std::string streamed;
  EXPECT_THROW(client.shellStream(
                   "S", "monitor",
                   [&](std::string_view s) {
                     streamed.append(s);
                     cancel = true;
                   },
                   {}, &cancel),
               AdbCancelled);
  EXPECT_EQ(streamed, "sample 1\n");
  server.finish();
  EXPECT_TRUE(closed_by_client);
}

TEST(AdbClient, PropertiesParsesGetprop) {
  FakeServer server({[](FakeConn& c) {
    c.expectService("S", "shell,v2,raw:'getprop'");
    c.expectCloseStdin();
    c.send(encodeShellPacket(ShellPacketId::Stdout,
                             "[ro.product.model]: [Pixel 8]\n"
                             "[ro.odd]: [a]b]: [c]]\n"
                             "[ro.empty]: []\n"
                             "[ro.multi]: [line one\n"
                             "line two]\n"));
    c.send(shellExitPacket(0));
  }});
  const auto props = server.client().properties("S");
  EXPECT_EQ(props.size(), 4u);
  EXPECT_EQ(props.at("ro.product.model"), "Pixel 8");
  EXPECT_EQ(props.at("ro.odd"), "a]b]: [c]");
  EXPECT_EQ(props.at("ro.empty"), "");
  EXPECT_EQ(props.at("ro.multi"), "line one\nline two");
}

// --- sync --------------------------------------------------------------------------------------

TEST(AdbClient, PushSendsRandomFilesOfAwkwardSizesByteForByte) {
  TempDir dir;
  for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{65535},
                                 std::size_t{65536}, std::size_t{65537},
                                 std::size_t{3 * 1024 * 1024 + 123}}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const fs::path local = dir / ("f" + std::to_string(size));
    const std::string content = randomBytes(size);
    writeFile(local, content);
    struct stat st {};
    ASSERT_EQ(::stat(local.c_str(), &st), 0);
    const std::string remote = "/data/local/tmp/dir with space/f'" + std::to_string(size);

    PushSeen seen;
    FakeServer server({pushReceiver(seen, "dev-1")});
    std::vector<std::pair<std::int64_t, std::int64_t>> calls;
    server.client().push(
        "dev-1", local, remote, [&](std::int64_t d, std::int64_t t) { calls.emplace_back(d, t); },
        nullptr, 0755);
    server.finish();

    EXPECT_EQ(seen.spec, remote + "," + std::to_string(S_IFREG | 0755));
    EXPECT_TRUE(seen.data == content) << "content differs, " << seen.data.size() << " bytes";
    EXPECT_EQ(seen.mtime, static_cast<std::uint32_t>(st.st_mtime));
    EXPECT_TRUE(seen.done);
    EXPECT_TRUE(seen.quit);
    EXPECT_LE(seen.largest_chunk, kSyncDataMax);
    EXPECT_EQ(seen.chunks, (size + kSyncDataMax - 1) / kSyncDataMax);
    ASSERT_FALSE(calls.empty());
    EXPECT_EQ(calls.back(), std::make_pair(std::int64_t(size), std::int64_t(size)));
    EXPECT_GE(calls.size(), seen.chunks);
    for (std::size_t i = 1; i < calls.size(); ++i) EXPECT_LE(calls[i - 1].first, calls[i].first);
  }
}

TEST(AdbClient, PushReportsTheDeviceFailMessage) {
  TempDir dir;
  const fs::path local = dir / "f";
  writeFile(local, randomBytes(100000));
  PushSeen seen;
  FakeServer server({pushReceiver(seen, "d", "couldn't create file: Read-only file system")});
  const std::string e =
      messageOf<AdbError>([&] { server.client().push("d", local, "/system/x"); });
  EXPECT_NE(e.find("Read-only file system"), std::string::npos) << e;
  EXPECT_NE(e.find("/system/x"), std::string::npos) << e;
  // adbd removes its own partial file after a FAIL: no cleanup connection.
  EXPECT_EQ(server.finish(), 1);
}

TEST(AdbClient, PushOfAMissingLocalFileSaysSo) {
  FakeServer server({});
  const std::string e = messageOf<AdbError>(
      [&] { server.client().push("d", "/nonexistent/darkroom/file", "/data/local/tmp/x"); });
  EXPECT_NE(e.find("/nonexistent/darkroom/file"), std::string::npos) << e;
  EXPECT_NE(e.find("No such file"), std::string::npos) << e;
  EXPECT_EQ(server.finish(), 0);
}

TEST(AdbClient, CancelMidPushStopsAndRemovesThePartialRemoteFile) {
  TempDir dir;
  const fs::path local = dir / "big";
  const std::size_t size = 4 * 1024 * 1024;
  writeFile(local, randomBytes(size));
  std::atomic<std::size_t> received{0};
  std::atomic<bool> removed{false};
  FakeServer server({[&](FakeConn& c) {
                       c.expectService("d", "sync:");
                       received = c.drainUntilClosed();
                     },
                     expectRemoveRemote("d", "/data/local/tmp/big", removed)});
  std::atomic<bool> cancel{false};
  std::int64_t last_done = 0;
  EXPECT_THROW(server.client().push(
                   "d", local, "/data/local/tmp/big",
                   [&](std::int64_t done, std::int64_t) {
                     last_done = done;
                     if (done >= 1024 * 1024) cancel = true;
                   },
                   &cancel),
               AdbCancelled);
  server.finish();
  EXPECT_TRUE(removed);
  EXPECT_EQ(last_done, 1024 * 1024);  // stopped at the next chunk
  EXPECT_LT(received.load(), size);
}

TEST(AdbClient, DeviceGoneMidPushIsAClearErrorAndTheCleanupFailsQuietly) {
  TempDir dir;
  const fs::path local = dir / "f";
  writeFile(local, randomBytes(8 * 1024 * 1024));
  FakeServer server({[](FakeConn& c) {
                       c.expectService("d", "sync:");
                       c.readExact(100000);  // then the cable is pulled
                     },
                     [](FakeConn& c) {
                       c.expectRequest("host:transport:d");
                       c.fail("device 'd' not found");
                     }});
  const std::string e =
      messageOf<AdbError>([&] { server.client().push("d", local, "/data/local/tmp/f"); });
  EXPECT_NE(e.find("went away"), std::string::npos) << e;
  EXPECT_NE(e.find("push of"), std::string::npos) << e;
  EXPECT_EQ(server.finish(), 2);  // the cleanup was tried
}

TEST(AdbClient, PushTimesOutWhenTheDeviceNeverConfirmsAndCleansUp) {
  TempDir dir;
  const fs::path local = dir / "f";
  writeFile(local, randomBytes(70000));
  std::atomic<bool> removed{false};
  FakeServer server({[](FakeConn& c) {
                       c.expectService("d", "sync:");
                       c.drainUntilClosed();  // takes everything, never answers
                     },
                     expectRemoveRemote("d", "/data/local/tmp/f", removed)});
  EXPECT_THROW(server.client(300ms).push("d", local, "/data/local/tmp/f"), AdbTimeout);
  server.finish();
  EXPECT_TRUE(removed);
}

namespace {

// Serves STAT then RECV for `remote` with `content` in chunks of random sizes, then `ending`
// ("DONE", "FAIL" or "CLOSE" to drop the connection mid-file).
FakeServer::Handler pullSender(const std::string& remote, const std::string& content,
                               const std::string& ending = "DONE") {
  return [remote, content, ending](FakeConn& c) {
    c.expectService("d", "sync:");
    SyncHeader h = c.readSyncHeader();
    if (h.id != "STAT" || c.readExact(h.arg) != remote) throw std::runtime_error("bad STAT");
    c.send(encodeSyncStatV1({0100644, static_cast<std::uint32_t>(content.size()), 1700000000}));
    h = c.readSyncHeader();
    if (h.id != "RECV" || c.readExact(h.arg) != remote) throw std::runtime_error("bad RECV");
    std::size_t pos = 0;
    const std::size_t stop_at = ending == "DONE" ? content.size() : content.size() / 2;
    while (pos < stop_at) {
      const std::size_t n = std::min<std::size_t>(stop_at - pos, 1 + rng()() % kSyncDataMax);
      c.send(encodeSyncHeader("DATA", static_cast<std::uint32_t>(n)) + content.substr(pos, n));
      pos += n;
    }
    if (ending == "DONE") {
      c.send(encodeSyncHeader("DONE", 0));
      if (c.readSyncHeader().id != "QUIT") throw std::runtime_error("no QUIT");
    } else if (ending == "FAIL") {
      const std::string msg = "read failed: I/O error";
      c.send(encodeSyncHeader("FAIL", static_cast<std::uint32_t>(msg.size())) + msg);
    }
  };
}

}  // namespace

TEST(AdbClient, PullWritesThePartialFileThenRenamesIt) {
  TempDir dir;
  for (const std::size_t size : {std::size_t{0}, std::size_t{65536}, std::size_t{2500000}}) {
    const std::string content = randomBytes(size);
    FakeServer server({pullSender("/sdcard/in", content)});
    const fs::path local = dir / ("out" + std::to_string(size));
    std::int64_t last = -1;
    server.client().pull("d", "/sdcard/in", local,
                         [&](std::int64_t done, std::int64_t) { last = done; });
    server.finish();
    EXPECT_TRUE(readFile(local) == content) << size;
    EXPECT_EQ(last, static_cast<std::int64_t>(size));
    EXPECT_FALSE(fs::exists(local.string() + ".partial"));
  }
}

TEST(AdbClient, PullFailureLeavesNoPartialFile) {
  TempDir dir;
  const std::string content = randomBytes(300000);
  FakeServer server({pullSender("/sdcard/in", content, "FAIL"),
                     pullSender("/sdcard/in", content, "CLOSE"),
                     [](FakeConn& c) {
                       c.expectService("d", "sync:");
                       c.readSyncHeader();
                       c.readExact(11);
                       c.send(encodeSyncStatV1({}));  // mode 0: no such file
                     }});
  const fs::path local = dir / "out";
  const std::string e1 = messageOf<AdbError>([&] { server.client().pull("d", "/sdcard/in", local); });
  EXPECT_NE(e1.find("I/O error"), std::string::npos) << e1;
  EXPECT_FALSE(fs::exists(local));
  EXPECT_FALSE(fs::exists(local.string() + ".partial"));
  const std::string e2 = messageOf<AdbError>([&] { server.client().pull("d", "/sdcard/in", local); });
  EXPECT_NE(e2.find("went away"), std::string::npos) << e2;
  EXPECT_FALSE(fs::exists(local));
  EXPECT_FALSE(fs::exists(local.string() + ".partial"));
  const std::string e3 = messageOf<AdbError>([&] { server.client().pull("d", "/sdcard/gone", local); });
  EXPECT_NE(e3.find("no such file"), std::string::npos) << e3;
  EXPECT_FALSE(fs::exists(local.string() + ".partial"));
}

TEST(AdbClient, PullRejectsAnOversizedDataChunk) {
  TempDir dir;
  FakeServer server({[](FakeConn& c) {
    c.expectService("d", "sync:");
    SyncHeader h = c.readSyncHeader();
    c.readExact(h.arg);
    c.send(encodeSyncStatV1({0100644, 10, 0}));
    h = c.readSyncHeader();
    c.readExact(h.arg);
    c.send(encodeSyncHeader("DATA", kSyncDataMax + 1));
    c.drainUntilClosed();
  }});
  const fs::path local = dir / "out";
  const std::string e = messageOf<AdbError>([&] { server.client().pull("d", "/x", local); });
  EXPECT_NE(e.find("65537"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(local.string() + ".partial"));
}

TEST(AdbClient, StatReportsModeSizeAndMissingFiles) {
  FakeServer server({[](FakeConn& c) {
                       c.expectService("d", "sync:");
                       SyncHeader h = c.readSyncHeader();
                       EXPECT_EQ(h.id, "STAT");
                       EXPECT_EQ(c.readExact(h.arg), "/data/local/tmp/a");
                       c.send(encodeSyncStatV1({0100755, 12345, 1700000001}));
                       EXPECT_EQ(c.readSyncHeader().id, "QUIT");
                     },
                     [](FakeConn& c) {
                       c.expectService("d", "sync:");
                       SyncHeader h = c.readSyncHeader();
                       c.readExact(h.arg);
                       c.send(encodeSyncStatV1({}));
                     }});
  const RemoteStat s = server.client().stat("d", "/data/local/tmp/a");
  EXPECT_TRUE(s.exists);
  EXPECT_EQ(s.mode, 0100755u);
  EXPECT_EQ(s.size, 12345);
  EXPECT_EQ(s.mtime, 1700000001);
  EXPECT_FALSE(server.client().stat("d", "/missing").exists);
}

// --- the real adb server -----------------------------------------------------------------------

namespace {

bool adbOnPath() { return std::system("command -v adb >/dev/null 2>&1") == 0; }

int freeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

TEST(AdbRealServer, StartsOnAPrivatePortListsNoDevicesAndIsKilled) {
  if (!adbOnPath()) GTEST_SKIP() << "adb is not on PATH (Debian package adb); skipping";
  const int port = freeLoopbackPort();
  // Whatever happens below, the server on this private port is killed at the end.
  struct Killer {
    int port;
    ~Killer() {
      const std::string cmd = "adb -P " + std::to_string(port) + " kill-server >/dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "adb kill-server failed\n");
    }
  } killer{port};
  ClientOptions o;
  o.timeout = 10000ms;
  // Nothing listens yet, so ensureServer below really starts one.
  ClientOptions no_start = o;
  no_start.start_server = false;
  ServerAddress a;
  a.port = port;
  EXPECT_THROW(Client(a, no_start).ensureServer(), AdbError);

  ::setenv("ANDROID_ADB_SERVER_PORT", std::to_string(port).c_str(), 1);
  const ServerAddress from_env = ServerAddress::fromEnvironment();
  ::unsetenv("ANDROID_ADB_SERVER_PORT");
  ASSERT_EQ(from_env.port, port);
  Client client(from_env, o);
  client.ensureServer();
  EXPECT_GT(client.serverVersion(), 0);
  const std::vector<DeviceEntry> devices = client.devices();
  // The server also probes the emulator ports 5555-5585; something another program runs there
  // shows up as emulator-*. Nothing else can be attached to this machine.
  for (const DeviceEntry& d : devices) {
    EXPECT_EQ(d.serial.rfind("emulator-", 0), 0u) << "unexpected device " << d.serial;
  }
  if (!devices.empty()) std::printf("note: %zu emulator port(s) answered\n", devices.size());
}
