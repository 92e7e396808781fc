// One device in the "device" state: pushing files with a device-side checksum, and running the
// agent with its JSON lines streamed back as they arrive (scrcpy / record_android_trace style:
// push a helper to /data/local/tmp, run it over `adb shell`, stop it on cancel).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "darkroom/device/session.h"
#include "session_internal.h"
#include "util/sha256.h"

namespace darkroom::device {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// An agent line longer than this is not a record: the stream is broken.
constexpr std::size_t kMaxLineBytes = 1 << 20;
// Kept of the agent's stderr for the error message of a failed run.
constexpr std::size_t kMaxStderrBytes = 16 * 1024;
// How long a device command may print nothing (a long flash-sweep point, a large kernel shape,
// sha256sum of a large file) before it is taken for hung. A pulled cable ends the stream at once:
// the adb server closes it.
constexpr std::chrono::milliseconds kDeviceSilenceLimit = std::chrono::minutes(10);

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string megabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", bytes / 1e6);
  return buf;
}

bool isHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string lastLines(const std::string& text, std::size_t max_bytes = 2000) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.size() > max_bytes) t = "…" + t.substr(t.size() - max_bytes);
  return t;
}

}  // namespace

CancelWatch::CancelWatch(const JobContext& ctx) : ctx_(ctx) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!done_) {
      if (ctx_.cancelled()) flag_ = true;
      wake_.wait_for(lock, std::chrono::milliseconds(20));
    }
  });
}

CancelWatch::~CancelWatch() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool reportProgress(JobContext& ctx, double fraction, const std::string& message) {
  try {
    ctx.progress(fraction, message);
    return true;
  } catch (const JobCancelled&) {
    return false;
  }
}

DeviceSession::DeviceSession(adb::Client& client, std::string serial)
    : client_(client), device_(describeDevice(client, serial)) {
  if (device_.state != "device")
    throw DeviceError("device " + device_.serial + " is " + device_.state + ": " +
                      stateAdvice(device_.state));
}

// After a failed transfer: is the device still there? The adb server notices a dead transport
// a moment after our socket does, so look for up to two seconds before blaming something else.
static std::string goneReason(adb::Client& client, const std::string& serial) {
  auto deadline = Clock::now() + std::chrono::seconds(2);
  for (;;) {
    std::string state;
    try {
      for (const auto& e : client.devices())
        if (e.serial == serial) state = e.state;
    } catch (const adb::AdbError& e) {
      return std::string("the adb server itself stopped answering (") + e.what() + ")";
    }
    if (state.empty()) return "it is no longer listed by the adb server";
    if (state != "device") return "it is now " + state;
    if (Clock::now() >= deadline) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

static DeviceError transferError(adb::Client& client, const std::string& serial,
                                 const std::string& what, const adb::AdbError& e) {
  auto gone = goneReason(client, serial);
  if (!gone.empty())
    return DeviceError("the device " + serial + " went away while " + what + " (" + gone +
                       "): " + e.what() + ". Reconnect it and run again.");
  return DeviceError(what + " on " + serial + " failed: " + e.what());
}

void DeviceSession::ensureWorkDir() {
  if (work_dir_ready_) return;
  auto r = client_.shell(device_.serial, {"mkdir", "-p", kDeviceWorkDir});
  if (r.exit_code != 0)
    throw DeviceError("cannot create " + std::string(kDeviceWorkDir) + " on " + device_.serial +
                      " (mkdir exit " + std::to_string(r.exit_code) + "): " + lastLines(r.err));
  work_dir_ready_ = true;
}

void DeviceSession::removeQuietly(const std::string& remote) {
  try {
    client_.shell(device_.serial, {"rm", "-f", remote});
  } catch (const adb::AdbError&) {
    // The device went away: nothing more to clean up from here.
  }
}

std::string DeviceSession::remoteSha256(const std::string& remote) {
  if (!client_.stat(device_.serial, remote).exists) return {};
  // sha256sum prints nothing until it has read the whole file, and hashing a multi-GB layout on
  // a phone outlasts a request/reply timeout. Reading stdin makes the output "HASH  -" whatever
  // the file's name (GNU's escapes names holding '\' or a newline).
  adb::ClientOptions options = client_.options();
  options.timeout = std::max(options.timeout, kDeviceSilenceLimit);
  adb::Client patient(client_.address(), options);
  auto r = patient.shell(device_.serial, {"sh", "-c", "sha256sum < \"$1\"", "sh", remote});
  if (r.exit_code != 0)
    throw DeviceError("sha256sum " + remote + " failed on " + device_.serial + " (exit " +
                      std::to_string(r.exit_code) + "): " + lastLines(r.err + r.out) +
                      ". The device needs toybox's sha256sum (Android 7 or newer).");
  auto hash = r.out.substr(0, r.out.find_first_of(" \t\n"));
  if (!isHex64(hash))
    throw DeviceError("sha256sum " + remote + " on " + device_.serial +
                      " printed no SHA-256: '" + lastLines(r.out, 200) + "'");
  return hash;
}

// SHA-256 of a local file with progress and cancellation: hashing a large layout takes seconds.
static std::string hashFile(const fs::path& file, JobContext& ctx, const std::string& name) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DeviceError("cannot read " + file.string());
  const double total = double(fs::file_size(file));
  Sha256 hash;
  std::vector<char> buffer(std::size_t(1) << 20);
  double done = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    hash.update(buffer.data(), n);
    done += double(n);
    ctx.progress(total > 0 ? done / total : 1,
                 "hashing " + name + ": " + megabytes(done) + "/" + megabytes(total) + " MB");
  }
  if (in.bad()) throw DeviceError("reading " + file.string() + " failed");
  return hash.hexDigest();
}

PushReport DeviceSession::pushFileTo(const fs::path& local, const std::string& remote,
                                     JobContext& ctx, std::uint32_t mode) {
  std::error_code ec;
  if (!fs::is_regular_file(local, ec))
    throw DeviceError("cannot push " + local.string() + ": no such file");
  PushReport report;
  report.remote = remote;
  report.bytes = static_cast<std::int64_t>(fs::file_size(local));
  const std::string name = local.filename().string();
  // Hashing runs at a few hundred MB/s, about as fast as a USB 3 push: it gets a third.
  {
    auto hashing = ctx.slice(0, 0.3);
    report.sha256 = hashFile(local, hashing, name);
  }
  auto pushing = ctx.slice(0.3, 0.7);
  const std::string what = "pushing " + local.string() + " to " + remote;
  try {
    if (remote.rfind(std::string(kDeviceWorkDir) + "/", 0) == 0) ensureWorkDir();
    if (remoteSha256(remote) == report.sha256) {
      report.skipped = true;
      pushing.progress(1, name + ": already on the device");
      if (on_transfer_) on_transfer_({name, report.bytes, report.bytes, 0, true});
      return report;
    }
    const auto t0 = Clock::now();
    {
      CancelWatch watch(ctx);
      auto progress = [&](std::int64_t done, std::int64_t total) {
        const double s = secondsSince(t0);
        const double rate = s > 0 ? double(done) / s : 0;
        if (on_transfer_) on_transfer_({name, done, total, rate / 1e6, false});
        if (!reportProgress(pushing, total > 0 ? double(done) / double(total) : 1.0,
                            "pushing " + name + ": " + megabytes(double(done)) + "/" +
                                megabytes(double(total)) + " MB, " + megabytes(rate) + " MB/s"))
          watch.raise();
      };
      try {
        client_.push(device_.serial, local, remote, progress, watch.flag(), mode);
      } catch (const adb::AdbCancelled&) {
        if (ctx.cancelled()) throw JobCancelled();
        throw;
      }
    }
    report.seconds = secondsSince(t0);
    // The transfer's framing has no checksum: compare what the device stored with the source.
    pushing.progress(1, "checking " + name + " on the device");
    std::string stored;
    try {
      stored = remoteSha256(remote);
    } catch (const DeviceError&) {
      removeQuietly(remote);  // an unverified copy must not pass for a good one later
      throw;
    }
    if (stored != report.sha256) {
      client_.shell(device_.serial, {"rm", "-f", remote});
      throw DeviceError("pushed " + local.string() + " to " + device_.serial + ":" + remote +
                        " but the device's copy differs (sha256 " +
                        (stored.empty() ? std::string("missing") : stored) + ", expected " +
                        report.sha256 + "); it was removed. Check the device's free space (df " +
                        kDeviceWorkDir + ") and push again.");
    }
  } catch (const adb::AdbCancelled&) {
    throw;
  } catch (const adb::AdbError& e) {
    throw transferError(client_, device_.serial, what, e);
  }
  return report;
}

PushReport DeviceSession::pushFile(const fs::path& local, JobContext& ctx) {
  return pushFileTo(local, std::string(kDeviceWorkDir) + "/" + local.filename().string(), ctx);
}

PushReport DeviceSession::ensureAgent(JobContext& ctx) {
  const auto local = agentBinaryForAbi(device_.abi);
  auto report = pushFileTo(local, std::string(kDeviceWorkDir) + "/darkroom-agent", ctx, 0755);
  // The sync service's mode is subject to the device's umask; make sure it can run.
  auto r = client_.shell(device_.serial, {"chmod", "755", report.remote});
  if (r.exit_code != 0)
    throw DeviceError("chmod 755 " + report.remote + " failed on " + device_.serial + ": " +
                      lastLines(r.err));
  return report;
}

void DeviceSession::stopRemoteProcess(const std::string& pid) {
  // Closing the stream hangs up the device's shell, which usually ends the agent; make sure.
  try {
    client_.shell(device_.serial, {"kill", "-TERM", pid}, std::chrono::milliseconds(3000));
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    while (Clock::now() < deadline) {
      auto r = client_.shell(device_.serial, {"kill", "-0", pid}, std::chrono::milliseconds(3000));
      if (r.exit_code != 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    client_.shell(device_.serial, {"kill", "-KILL", pid}, std::chrono::milliseconds(3000));
  } catch (const adb::AdbError&) {
    // The device went away: nothing runs there any more that we could stop.
  }
}

std::vector<AgentRecord> DeviceSession::runAgent(const std::string& subcommand,
                                                 const std::vector<std::string>& args,
                                                 const RecordFn& on_record, JobContext& ctx) {
  const std::string agent = std::string(kDeviceWorkDir) + "/darkroom-agent";
  std::vector<std::string> argv{agent, subcommand, "--workdir", kDeviceWorkDir};
  argv.insert(argv.end(), args.begin(), args.end());
  // The shell prints its pid on stderr, then becomes the agent: the pid lets a cancelled run
  // be stopped for sure, without a file to clean up.
  const std::string command = "echo darkroom-agent-pid $$ >&2; exec " + adb::shellCommand(argv);

  std::vector<AgentRecord> records;
  std::string pending, err, pid, error_message;
  std::size_t scanned = 0;
  std::exception_ptr failure;
  CancelWatch watch(ctx);

  auto handleLine = [&](std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) return;
    AgentRecord rec = parseAgentRecord(line);
    if (rec.type == "progress") {
      const double total = rec.number("total");
      if (total > 0 &&
          !reportProgress(ctx, rec.number("done") / total, subcommand + ": " + rec.text("message")))
        watch.raise();
    } else if (rec.type == "error") {
      error_message = rec.text("message", rec.text("error"));
    }
    records.push_back(rec);
    if (on_record) on_record(records.back());
  };
  auto onStdout = [&](std::string_view chunk) {
    if (failure) return;
    try {
      pending.append(chunk);
      std::size_t start = 0;
      for (;;) {
        auto nl = pending.find('\n', scanned);
        if (nl == std::string::npos) break;
        handleLine(pending.substr(start, nl - start));
        start = scanned = nl + 1;
      }
      pending.erase(0, start);
      scanned = pending.size();
      if (pending.size() > kMaxLineBytes)
        throw DeviceError("darkroom-agent " + subcommand + " printed more than 1 MiB without a " +
                          "line break: its output is not JSON lines");
    } catch (...) {
      failure = std::current_exception();
      watch.raise();
    }
  };
  auto onStderr = [&](std::string_view chunk) {
    err.append(chunk);
    if (pid.empty()) {
      const std::string tag = "darkroom-agent-pid ";
      auto at = err.find(tag);
      auto nl = at == std::string::npos ? std::string::npos : err.find('\n', at);
      if (nl != std::string::npos) {
        pid = err.substr(at + tag.size(), nl - at - tag.size());
        err.erase(at, nl + 1 - at);
      }
    }
    if (err.size() > kMaxStderrBytes) err.erase(0, err.size() - kMaxStderrBytes);
  };

  // The client's read timeout suits request/reply exchanges; an agent may rightly be silent
  // longer while it measures.
  adb::ClientOptions options = client_.options();
  options.timeout = std::max(options.timeout, kDeviceSilenceLimit);
  adb::Client streaming(client_.address(), options);
  int exit_code = 0;
  try {
    exit_code = streaming.shellStream(device_.serial, command, onStdout, onStderr, watch.flag());
  } catch (const adb::AdbCancelled&) {
    if (!pid.empty()) stopRemoteProcess(pid);
    if (failure) std::rethrow_exception(failure);
    if (ctx.cancelled()) throw JobCancelled();
    throw;
  } catch (const adb::AdbError& e) {
    throw transferError(client_, device_.serial, "darkroom-agent " + subcommand + " ran", e);
  }
  if (failure) std::rethrow_exception(failure);
  if (!pending.empty() && exit_code == 0) handleLine(pending);  // a last line without '\n'
  if (exit_code != 0) {
    std::string why = !error_message.empty() ? error_message : lastLines(err);
    if (why.empty()) why = "it printed no error";
    if (exit_code == 127 || exit_code == 126)
      why += " (the agent could not be started: was ensureAgent called?)";
    throw DeviceError("darkroom-agent " + subcommand + " failed on " + device_.serial +
                      " (exit " + std::to_string(exit_code) + "): " + why);
  }
  return records;
}

}  // namespace darkroom::device
