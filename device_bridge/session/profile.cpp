// The whole profiling flow on one device, and the stored profiles read back.
//
// A device_profiles row keeps what the agent printed, untouched, after one header line of our
// own: {"v":1,"cmd":KIND,"type":"request","t_ms":0,"label":...,"args":[...],"inputs":[...],
// "device":{...},"simulated":...,"storage":{...}}. The store's table has no column for the
// request, and a header line keeps the payload self-describing JSON lines that any reader of the
// agent protocol can read (it is a record of type "request").
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "darkroom/device/session.h"
#include "session_internal.h"

namespace darkroom::device {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

bool isFlashKind(const std::string& kind) { return kind.rfind("flash-", 0) == 0; }

// The storage fields of an info record ("storage.device" -> "device").
nlohmann::ordered_json storageOf(const AgentRecord& info) {
  nlohmann::ordered_json s = nlohmann::ordered_json::object();
  const std::string prefix = "storage.";
  for (const auto& [k, v] : info.strings)
    if (k.rfind(prefix, 0) == 0) s[k.substr(prefix.size())] = v;
  for (const auto& [k, v] : info.numbers)
    if (k.rfind(prefix, 0) == 0) s[k.substr(prefix.size())] = v;
  return s;
}

// What was measured: the kernel back ends for kernels, the block device for flash kinds.
std::string backendOf(const std::string& kind, const std::vector<AgentRecord>& records,
                      const nlohmann::ordered_json& storage) {
  std::vector<std::string> names;
  auto add = [&](const std::string& name) {
    if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(name);
  };
  if (kind == "kernels") {
    for (const auto& r : records)
      if (r.type == "sample") add(r.text("backend"));
  } else {
    for (const auto& r : records) {
      add(r.text("storage.device"));
      add(r.text("storage_device"));
    }
    if (names.empty() && storage.contains("device") && storage["device"].is_string())
      add(storage["device"].get<std::string>());
  }
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

}  // namespace

ProfileResult runProfile(Store& store, adb::Client& client, const std::string& serial,
                         const ProfileRequest& request, const RecordFn& on_record,
                         JobContext& ctx, const TransferFn& on_transfer) {
  if (request.kind.empty()) throw DeviceError("a profile needs a kind (an agent subcommand)");
  if (request.kind == "flash-replay" && (request.layout.empty() || request.trace.empty()))
    throw DeviceError("flash-replay needs a layout file and a trace file (--layout, --trace)");
  if (request.kind != "flash-replay" && (!request.layout.empty() || !request.trace.empty()))
    throw DeviceError("a layout and a trace are inputs of flash-replay only, not of " +
                      request.kind);
  for (const auto* input : {&request.layout, &request.trace}) {
    std::error_code ec;
    if (!input->empty() && !fs::is_regular_file(*input, ec))
      throw DeviceError("cannot profile: " + input->string() + " does not exist");
  }
  const auto t0 = Clock::now();
  ProfileResult result;
  DeviceSession session(client, serial);
  session.setTransferListener(on_transfer);
  result.device = session.device();

  {
    auto step = ctx.slice(0, 0.2);
    result.pushes.push_back(session.ensureAgent(step));
  }
  std::vector<std::string> args;
  nlohmann::ordered_json inputs = nlohmann::ordered_json::array();
  {
    auto step = ctx.slice(0.2, 0.2);
    int i = 0;
    for (auto [flag, file] : {std::pair{"--layout", &request.layout},
                              std::pair{"--trace", &request.trace}}) {
      if (file->empty()) continue;
      auto part = step.slice(0.5 * i++, 0.5);
      auto pushed = session.pushFile(*file, part);
      args.insert(args.end(), {flag, pushed.remote});
      inputs.push_back({{"role", std::string(flag).substr(2)},
                        {"file", file->filename().string()},
                        {"remote", pushed.remote},
                        {"bytes", pushed.bytes},
                        {"sha256", pushed.sha256}});
      result.pushes.push_back(pushed);
    }
  }
  args.insert(args.end(), request.args.begin(), request.args.end());

  // For flash kinds the block device is part of the result: ask the agent which one holds its
  // work directory (flash-sweep's records do not say).
  nlohmann::ordered_json storage = nlohmann::ordered_json::object();
  if (isFlashKind(request.kind)) {
    auto step = ctx.slice(0.4, 0.05);
    for (const auto& r : session.runAgent("info", {}, {}, step))
      if (r.type == "info") storage = storageOf(r);
  }
  {
    auto step = ctx.slice(0.45, 0.55);
    result.records = session.runAgent(request.kind, args, on_record, step);
  }
  ctx.checkCancelled();
  result.backend = backendOf(request.kind, result.records, storage);

  const auto& d = result.device;
  nlohmann::ordered_json header;
  header["v"] = 1;
  header["cmd"] = request.kind;
  header["type"] = "request";
  header["t_ms"] = 0;
  header["label"] = request.label;
  header["args"] = args;
  header["inputs"] = inputs;
  header["device"] = {{"serial", d.serial}, {"model", d.model}, {"abi", d.abi},
                      {"fingerprint", d.fingerprint}};
  header["simulated"] = d.simulated;
  if (!storage.empty()) header["storage"] = storage;
  std::string payload = header.dump() + "\n";
  for (const auto& r : result.records) payload += r.line + "\n";

  Device row;
  row.serial = d.serial;
  row.model = d.model;
  row.abi = d.abi;
  row.fingerprint = d.fingerprint;
  row.simulated = d.simulated;
  result.device_id = store.upsertDevice(row);
  DeviceProfile profile;
  profile.device_id = result.device_id;
  profile.kind = request.kind;
  profile.backend = result.backend;
  profile.payload = std::move(payload);
  result.profile_id = store.addDeviceProfile(profile);
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  reportProgress(ctx, 1, "stored profile " + std::to_string(result.profile_id));
  return result;
}

std::vector<StoredProfile> loadProfiles(const Store& store, const std::string& kind) {
  std::vector<StoredProfile> out;
  for (const auto& device : store.devices()) {
    for (auto& row : store.deviceProfiles(device.id)) {
      if (!kind.empty() && row.kind != kind) continue;
      StoredProfile p;
      p.device = device;
      std::istringstream lines(row.payload);
      std::string line;
      int number = 0;
      while (std::getline(lines, line)) {
        ++number;
        if (line.empty()) continue;
        AgentRecord r;
        try {
          r = parseAgentRecord(line);
        } catch (const DeviceError& e) {
          throw DeviceError("stored profile " + std::to_string(row.id) + " of " +
                            store.path().string() + ", line " + std::to_string(number) + ": " +
                            e.what());
        }
        if (number == 1 && r.type == "request") {
          p.label = r.text("label");
          p.request = std::move(r);
        } else {
          p.records.push_back(std::move(r));
        }
      }
      p.row = std::move(row);
      out.push_back(std::move(p));
    }
  }
  std::sort(out.begin(), out.end(), [](const StoredProfile& a, const StoredProfile& b) {
    if (a.row.created_at != b.row.created_at) return a.row.created_at > b.row.created_at;
    return a.row.id > b.row.id;
  });
  return out;
}

}  // namespace darkroom::device
