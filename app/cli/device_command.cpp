// darkroom-cli device: phones through the adb server (list, track, push, shell), profiling them
// with darkroom-agent (the same runProfile as the Devices panel, stored in the workspace), the
// stored profiles side by side, and a simulated phone for those without one.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "command.h"
#include "darkroom/device/session.h"
#include "live_printer.h"

namespace darkroom::cli {

namespace {

using device::AgentRecord;
using device::DeviceError;
using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

const char* kDeviceHelp = R"(usage: darkroom-cli device list [--json]
       darkroom-cli device track [--count N] [--json]
       darkroom-cli device push FILE [--serial S] [--to REMOTE] [--json]
       darkroom-cli device shell [--serial S] -- PROGRAM [ARGS...]
       darkroom-cli device profile KIND [--serial S] [--layout FILE --trace FILE] [--label TEXT]
                                   [--json] [-- AGENT ARGS...]
       darkroom-cli device profiles [--kind KIND] [--serial S] [--json]
       darkroom-cli device profiles show ID
       darkroom-cli device simphone [--sandbox DIR] [--model NAME] [--port N]

Phones (and darkroom-simphone) through the adb server. Every device command also takes
--adb-port N (default $ANDROID_ADB_SERVER_PORT, else 5037); a server is started when none runs.
--serial may be left out when exactly one device is connected.

list      the connected devices: serial, adb state, model, ABI, whether simulated
track     one line per device plugged, unplugged or changing state, as it happens, until
          Ctrl-C or N events (the devices present at the start are listed, not counted)
push      FILE to the device (default /data/local/tmp/darkroom/, or --to REMOTE; a REMOTE
          ending in / or naming a folder gets FILE's name), with a progress bar and MB/s; the
          device's copy is checked with sha256sum, and nothing is sent when it already matches
shell     runs PROGRAM ARGS on the device (each word passed as one argument: use sh -c '...'
          for pipes); stdout and stderr pass through; the exit code is the program's
profile   pushes darkroom-agent for the device's ABI (unless the same one is there), the
          inputs, runs `darkroom-agent KIND AGENT ARGS` and streams its records as a table (or
          --json: the agent's JSON lines, then a "stored" line); the profile is stored in the
          workspace and its id printed. Ctrl-C stops the agent and stores nothing.
          KIND: info, flash-sweep, flash-replay (needs --layout and --trace), kernels, monitor
          (give it -- --count N: an endless monitor can only be cancelled)
profiles  stored profiles, newest first, one line each with its headline numbers (flash-sweep:
          peak MB/s and 4K random IOPS; flash-replay: p50/p99 ms; kernels: GEMV ms at batch 1
          and 8; monitor: hottest zone, load); `show ID` prints one profile's stored JSON lines
simphone  starts darkroom-simphone (a simulated x86-64 phone; its results are marked simulated),
          connects it to the adb server, prints its serial and runs until Ctrl-C
)";

// Set by SIGINT/SIGTERM while a command that waits on the device runs (track, shell, simphone).
std::atomic<bool> g_stop{false};
extern "C" void onStopSignal(int) { g_stop = true; }

class StopSignals {
 public:
  StopSignals() {
    g_stop = false;
    struct sigaction sa{};
    sa.sa_handler = onStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_{}, old_term_{};
};

adb::Client makeClient(Args& args) {
  auto address = adb::ServerAddress::fromEnvironment();
  if (auto port = args.option("--adb-port")) {
    auto p = parseId(*port, "--adb-port");
    if (p > 65535) throw UsageError("--adb-port must be a TCP port (1-65535), got " + *port);
    address.port = static_cast<int>(p);
  }
  return adb::Client(address);
}

std::string attribute(const adb::DeviceEntry& e, const std::string& key) {
  auto it = e.attributes.find(key);
  return it == e.attributes.end() ? std::string{} : it->second;
}

// --serial, or the only device there is.
std::string chooseSerial(adb::Client& client, const std::optional<std::string>& serial) {
  if (serial) return *serial;
  auto devices = client.devices();
  if (devices.size() == 1) return devices.front().serial;
  if (devices.empty())
    throw DeviceError("no device is connected to the adb server on port " +
                      std::to_string(client.address().port) +
                      ": plug in a phone with USB debugging on, or start a simulated one with "
                      "`darkroom-cli device simphone` in another terminal");
  std::string list;
  for (const auto& d : devices) {
    list += "\n  " + d.serial + "  " + d.state;
    if (auto m = attribute(d, "model"); !m.empty()) list += "  " + m;
  }
  throw DeviceError(std::to_string(devices.size()) +
                    " devices are connected; choose one with --serial:" + list);
}

// ---- list ----

int listDevices(Args& args) {
  const bool json = args.flag("--json");
  auto client = makeClient(args);
  args.finish();
  std::vector<device::DeviceDescription> described;
  for (const auto& e : client.devices()) {
    device::DeviceDescription d;
    try {
      d = device::describeDevice(client, e.serial);
    } catch (const std::exception&) {
      d.serial = e.serial;  // unplugged between the two requests
      d.state = "gone";
    }
    if (d.model.empty()) d.model = attribute(e, "model");
    described.push_back(d);
  }
  if (json) {
    ordered_json out = ordered_json::array();
    for (const auto& d : described)
      out.push_back({{"serial", d.serial}, {"state", d.state}, {"model", d.model},
                     {"abi", d.abi}, {"fingerprint", d.fingerprint}, {"simulated", d.simulated}});
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : described)
    rows.push_back({d.serial, d.state, d.model.empty() ? "-" : d.model,
                    d.abi.empty() ? "-" : d.abi,
                    d.state != "device" ? "-" : d.simulated ? "yes" : "no"});
  printTable({"SERIAL", "STATE", "MODEL", "ABI", "SIMULATED"}, rows);
  if (described.empty())
    std::fprintf(stderr, "no devices: plug in a phone with USB debugging on, or run "
                         "`darkroom-cli device simphone`\n");
  return 0;
}

// ---- track ----

int trackDevices(Args& args) {
  const bool json = args.flag("--json");
  std::int64_t count = 0;
  if (auto c = args.option("--count")) count = parseId(*c, "--count");
  auto client = makeClient(args);
  args.finish();
  client.ensureServer();

  StopSignals signals;
  std::map<std::string, adb::DeviceEntry> known;
  bool first = true;
  std::int64_t events = 0;
  auto emit = [&](const std::string& event, const adb::DeviceEntry& e, const std::string& old) {
    const double now = std::chrono::duration<double>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    if (json) {
      ordered_json j{{"time", now}, {"event", event}, {"serial", e.serial}, {"state", e.state}};
      if (!old.empty()) j["previous"] = old;
      if (auto m = attribute(e, "model"); !m.empty()) j["model"] = m;
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::string line = formatTime(now) + "  " + event + "  " + e.serial + "  " +
                         (old.empty() ? e.state : old + " -> " + e.state);
      if (auto m = attribute(e, "model"); !m.empty()) line += "  " + m;
      std::printf("%s\n", line.c_str());
    }
    std::fflush(stdout);
    if (event != "present") ++events;
    if (count > 0 && events >= count) g_stop = true;
  };
  client.trackDevices(
      [&](const std::vector<adb::DeviceEntry>& list) {
        std::map<std::string, adb::DeviceEntry> now;
        for (const auto& e : list) now[e.serial] = e;
        for (const auto& [serial, e] : now) {
          auto it = known.find(serial);
          if (first) emit("present", e, {});
          else if (it == known.end()) emit("plugged", e, {});
          else if (it->second.state != e.state) emit("changed", e, it->second.state);
        }
        if (!first)
          for (const auto& [serial, e] : known)
            if (!now.count(serial)) {
              auto gone = e;
              gone.state = "gone";
              emit("unplugged", gone, e.state);
            }
        first = false;
        known = std::move(now);
      },
      g_stop);
  return 0;
}

// ---- push ----

int pushCommand(const Context&, Args& args) {
  const bool json = args.flag("--json");
  auto serial_opt = args.option("--serial");
  auto to = args.option("--to");
  auto client = makeClient(args);
  const std::filesystem::path file = args.required("FILE to push");
  args.finish();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw UsageError("push: " + file.string() + " is not a file");

  device::DeviceSession session(client, chooseSerial(client, serial_opt));
  std::string remote =
      to ? *to : std::string(device::kDeviceWorkDir) + "/" + file.filename().string();
  if (to) {
    if (remote.empty() || remote.front() != '/')
      throw UsageError("--to needs an absolute device path, got '" + remote + "'");
    if (remote.back() == '/') {
      remote += file.filename().string();
    } else if (auto st = client.stat(session.device().serial, remote);
               st.exists && S_ISDIR(st.mode)) {
      remote += "/" + file.filename().string();
    }
  }
  auto report = std::any_cast<device::PushReport>(runWithProgress(
      "push", [&](JobContext& job) -> std::any { return session.pushFileTo(file, remote, job); }));
  const auto& d = session.device();
  if (json) {
    ordered_json j{{"serial", d.serial},        {"local", file.string()},
                   {"remote", report.remote},   {"bytes", report.bytes},
                   {"sha256", report.sha256},   {"skipped", report.skipped},
                   {"seconds", report.seconds}, {"mb_s", report.mb_s()},
                   {"verified", true}};
    std::printf("%s\n", j.dump(2).c_str());
  } else if (report.skipped) {
    std::printf("%s is already on %s at %s (same sha256 %s): nothing sent\n",
                file.string().c_str(), d.serial.c_str(), report.remote.c_str(),
                report.sha256.c_str());
  } else {
    std::printf("pushed %s to %s:%s: %lld bytes in %.2f s (%.1f MB/s); sha256 %s verified on "
                "the device\n",
                file.string().c_str(), d.serial.c_str(), report.remote.c_str(),
                static_cast<long long>(report.bytes), report.seconds, report.mb_s(),
                report.sha256.c_str());
  }
  return 0;
}

// ---- shell ----

int shellCommand(Args& args, std::vector<std::string> program) {
  auto serial_opt = args.option("--serial");
  auto client = makeClient(args);
  if (program.empty()) program = args.rest();
  args.finish();
  if (program.empty())
    throw UsageError("shell needs a program to run: device shell [--serial S] -- PROGRAM ARGS "
                     "(an interactive shell is `adb shell`)");
  const auto serial = chooseSerial(client, serial_opt);
  device::DeviceSession session(client, serial);  // a clear error for unusable devices
  StopSignals signals;
  auto write = [](std::FILE* f) {
    return [f](std::string_view chunk) {
      std::fwrite(chunk.data(), 1, chunk.size(), f);
      std::fflush(f);
    };
  };
  try {
    return client.shellStream(serial, adb::shellCommand(program), write(stdout), write(stderr),
                              &g_stop);
  } catch (const adb::AdbCancelled&) {
    if (g_stop) throw JobCancelled();
    throw;
  }
}

// ---- profile ----

const std::set<std::string> kProfileKinds = {"info", "flash-sweep", "flash-replay", "kernels",
                                             "monitor"};

int profileCommand(const Context& ctx, Args& args, std::vector<std::string> agent_args) {
  const bool json = args.flag("--json");
  auto serial_opt = args.option("--serial");
  device::ProfileRequest request;
  if (auto v = args.option("--layout")) request.layout = *v;
  if (auto v = args.option("--trace")) request.trace = *v;
  request.label = args.option("--label", "");
  auto client = makeClient(args);
  request.kind = args.required("profile KIND (info, flash-sweep, flash-replay, kernels, monitor)");
  args.finish();
  if (!kProfileKinds.count(request.kind))
    throw UsageError("unknown profile kind '" + request.kind +
                     "': use info, flash-sweep, flash-replay, kernels or monitor");
  if (request.kind == "flash-replay" && (request.layout.empty() || request.trace.empty()))
    throw UsageError("flash-replay needs --layout FILE and --trace FILE (from `darkroom-cli "
                     "layout write` and `darkroom-cli coact`)");
  if (request.kind != "flash-replay" && (!request.layout.empty() || !request.trace.empty()))
    throw UsageError("--layout and --trace are inputs of flash-replay only");
  request.args = std::move(agent_args);

  auto ws = Workspace::create(ctx.workspace);
  const auto serial = chooseSerial(client, serial_opt);
  const auto printer = livePrinter(request.kind, json);
  auto result = std::any_cast<device::ProfileResult>(
      runWithProgress("profile " + request.kind, [&](JobContext& job) -> std::any {
        return device::runProfile(ws.store(), client, serial, request, printer, job);
      }));
  const auto& d = result.device;
  if (json) {
    ordered_json j{{"v", 1},
                   {"type", "stored"},
                   {"profile_id", result.profile_id},
                   {"device_id", result.device_id},
                   {"serial", d.serial},
                   {"model", d.model},
                   {"simulated", d.simulated},
                   {"kind", request.kind},
                   {"backend", result.backend},
                   {"records", result.records.size()},
                   {"seconds", result.seconds},
                   {"workspace", ws.root().string()}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  for (const auto& p : result.pushes)
    std::fprintf(stderr, "%s: %s\n", p.remote.c_str(),
                 p.skipped ? "already on the device (same sha256)"
                           : (std::to_string(p.bytes) + " bytes pushed at " + fixed(p.mb_s(), 1) +
                              " MB/s, verified")
                                 .c_str());
  auto headline = device::profileHeadline(request.kind, result.records);
  std::printf("stored profile %lld: %s on %s (%s%s), backend %s, %zu records, %.1f s\n",
              static_cast<long long>(result.profile_id), request.kind.c_str(), d.serial.c_str(),
              d.model.c_str(), d.simulated ? ", simulated" : "",
              result.backend.empty() ? "-" : result.backend.c_str(), result.records.size(),
              result.seconds);
  std::printf("%s\n", headline.text.c_str());
  return 0;
}

// ---- profiles ----

int profilesCommand(const Context& ctx, Args& args) {
  const bool json = args.flag("--json");
  auto kind = args.option("--kind", "");
  auto serial = args.option("--serial");
  auto sub = args.next();
  if (sub && *sub == "show") {
    auto id = parseId(args.required("profile ID"), "profile ID");
    args.finish();
    auto ws = ctx.openWorkspace();
    for (const auto& p : device::loadProfiles(ws.store())) {
      if (p.row.id != id) continue;
      std::printf("%s", p.row.payload.c_str());
      return 0;
    }
    throw std::runtime_error("no device profile with id " + std::to_string(id) + " in " +
                             ws.root().string());
  }
  if (sub) throw UsageError("profiles takes `show ID` or nothing, got '" + *sub + "'");
  args.finish();
  auto ws = ctx.openWorkspace();
  auto profiles = device::loadProfiles(ws.store(), kind);
  if (serial)
    profiles.erase(std::remove_if(profiles.begin(), profiles.end(),
                                  [&](const auto& p) { return p.device.serial != *serial; }),
                   profiles.end());
  if (json) {
    ordered_json out = ordered_json::array();
    for (const auto& p : profiles) {
      auto h = device::profileHeadline(p.row.kind, p.records);
      ordered_json numbers = ordered_json::object();
      for (const auto& [k, v] : h.numbers) numbers[k] = v;
      ordered_json args_json = ordered_json::array();
      for (int i = 0;; ++i) {
        auto a = p.request.text("args." + std::to_string(i));
        if (a.empty()) break;
        args_json.push_back(a);
      }
      out.push_back({{"id", p.row.id},
                     {"created_at", p.row.created_at},
                     {"kind", p.row.kind},
                     {"backend", p.row.backend},
                     {"label", p.label},
                     {"args", args_json},
                     {"device",
                      {{"serial", p.device.serial},
                       {"model", p.device.model},
                       {"abi", p.device.abi},
                       {"fingerprint", p.device.fingerprint},
                       {"simulated", p.device.simulated}}},
                     {"records", p.records.size()},
                     {"headline", numbers},
                     {"summary", h.text}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : profiles)
    rows.push_back({std::to_string(p.row.id), formatTime(p.row.created_at), p.device.serial,
                    p.device.model + (p.device.simulated ? " (simulated)" : ""), p.row.kind,
                    p.row.backend.empty() ? "-" : p.row.backend,
                    p.label.empty() ? "-" : p.label,
                    device::profileHeadline(p.row.kind, p.records).text});
  printTable({"ID", "CREATED", "SERIAL", "MODEL", "KIND", "BACKEND", "LABEL", "HEADLINE"}, rows);
  if (profiles.empty())
    std::fprintf(stderr, "no stored device profiles%s: run `darkroom-cli device profile KIND`\n",
                 kind.empty() ? "" : (" of kind " + kind).c_str());
  return 0;
}

// ---- simphone ----

int simphoneCommand(Args& args) {
  device::SimulatedPhone::Options options;
  if (auto v = args.option("--sandbox")) options.sandbox = *v;
  if (auto v = args.option("--model")) options.model = *v;
  if (auto v = args.option("--port")) {
    auto p = parseId(*v, "--port");
    if (p > 65535) throw UsageError("--port must be a TCP port (1-65535), got " + *v);
    options.port = static_cast<int>(p);
  }
  auto client = makeClient(args);
  args.finish();
  StopSignals signals;
  client.ensureServer();
  device::SimulatedPhone phone(client, options);
  std::printf("%s\n", phone.serial().c_str());
  std::fflush(stdout);
  std::fprintf(stderr,
               "simulated phone %s (%s) connected to the adb server on port %d; its files are "
               "in %s. Ctrl-C to stop.\n",
               phone.serial().c_str(), options.model.c_str(), client.address().port,
               phone.sandbox().c_str());
  while (!g_stop) {
    if (!phone.running())
      throw DeviceError("darkroom-simphone " + phone.serial() + " ended unexpectedly");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::fprintf(stderr, "simulated phone %s stopped and disconnected\n", phone.serial().c_str());
  return 0;
}

}  // namespace

// The device commands get the raw words: what follows "--" belongs to the device (shell's
// program, the agent's arguments) and must not be taken for one of our options.
int deviceCommand(const Context& ctx, const std::vector<std::string>& words) {
  auto dash = std::find(words.begin(), words.end(), "--");
  std::vector<std::string> tail(dash == words.end() ? dash : dash + 1, words.end());
  Args args(std::vector<std::string>(words.begin(), dash));
  args.option("--workspace");  // already in ctx
  args.next();                 // "device"
  auto sub = args.next();
  if (!sub || *sub == "help" || args.flag("--help")) return std::printf("%s", kDeviceHelp), 0;
  if (*sub != "shell" && *sub != "profile" && dash != words.end())
    throw UsageError("device " + *sub + " takes no arguments after --");
  if (*sub == "list") return listDevices(args);
  if (*sub == "track") return trackDevices(args);
  if (*sub == "push") return pushCommand(ctx, args);
  if (*sub == "shell") return shellCommand(args, std::move(tail));
  if (*sub == "profile") return profileCommand(ctx, args, std::move(tail));
  if (*sub == "profiles") return profilesCommand(ctx, args);
  if (*sub == "simphone") return simphoneCommand(args);
  throw UsageError("unknown device command '" + *sub +
                   "': use list, track, push, shell, profile, profiles or simphone");
}

}  // namespace darkroom::cli
