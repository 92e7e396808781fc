// The Devices and Profile panels. On hand-built agent records: the charts of each profile kind
// (graphs per read pattern × queue depth, kernel, zone and core; their points; log axes; the
// percentile keys), running replay percentiles, the simulated badge, the info table; the live
// coalescing (thousands of records from a worker thread: every record drawn, a bounded number of
// redraws); stored profiles of a temporary workspace overlaid in the comparison. The device list
// model under QAbstractItemModelTester, connect-address errors, and, against the real adb server
// on a private port: tracking that restarts when the server is killed, the "adb not installed"
// message, a refused connect shown inline, and the whole flow — a simulated phone started from
// the Devices panel appears, a tiny kernels profile runs from the Profile panel and is stored,
// the phone is stopped and leaves the list. Screenshots of both panels in both themes.
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDockWidget>
#include <QLineEdit>
#include <QListWidget>
#include <QProcess>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "darkroom/device/session.h"
#include "darkroom/workspace.h"
#include "devices/device_list_model.h"
#include "devices/device_tracker.h"
#include "devices/devices_panel.h"
#include "devices/key_value_table.h"
#include "devices/profile_chart.h"
#include "devices/profile_chart_set.h"
#include "devices/profile_comparison.h"
#include "devices/profile_form.h"
#include "devices/profile_panel.h"
#include "devices/profile_series.h"
#include "devices/record_buffer.h"
#include "jobs/job_bridge.h"
#include "main_window.h"
#include "theme/theme.h"
#include "view_test_util.h"

using namespace darkroom;
using namespace darkroom::views;
using device::AgentRecord;
using test::saveScreenshot;

using test::rng;

namespace {

int uniformInt(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng()); }
double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng()); }

// A loopback port nothing listens on right now.
int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t length = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length) != 0)
    qFatal("cannot find a free loopback port");
  ::close(fd);
  return ntohs(a.sin_port);
}

// The adb server of this test program: on a private port (never 5037), killed at the end.
struct PrivateAdbServer {
  int port = 0;
  void start() {
    port = freePort();
    qputenv("ANDROID_ADB_SERVER_PORT", QByteArray::number(port));
    qInfo("private adb server port %d", port);
    if (adbProgramFound("adb")) QProcess::execute("adb", {"-P", QString::number(port), "start-server"});
  }
  void kill() const { killServer(port); }
  static void killServer(int port) {
    if (port == 0 || !adbProgramFound("adb")) return;
    QProcess adb;
    adb.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    adb.setStandardOutputFile(QProcess::nullDevice());
    adb.start("adb", {"-P", QString::number(port), "kill-server"});
    adb.waitForFinished(10000);
  }
};
PrivateAdbServer& adbServer() {
  static PrivateAdbServer server;
  return server;
}

AgentRecord record(const std::string& cmd, const std::string& type, double t_ms, bool simulated = false) {
  AgentRecord r;
  r.cmd = cmd;
  r.type = type;
  r.t_ms = t_ms;
  r.simulated = simulated;
  return r;
}

const std::vector<int> kDepths = {1, 4, 32};
const std::vector<std::string> kPatterns = {"random", "sequential"};

// Read sizes: an awkward number of powers of two from 4 KiB, in random order.
std::vector<double> randomSizes() {
  std::vector<double> sizes;
  const int n = uniformInt(2, 7);
  for (int i = 0; i < n; ++i) sizes.push_back(double(4096 << i));
  std::shuffle(sizes.begin(), sizes.end(), rng());
  return sizes;
}

// One flash-sweep sample per size × pattern × depth; bigger reads are faster per byte, random
// ones slower than sequential, deeper queues faster.
std::vector<AgentRecord> sweepRecords(const std::vector<double>& sizes, bool simulated, double scale = 1) {
  std::vector<AgentRecord> out;
  double t = 0;
  for (const auto& pattern : kPatterns)
    for (const int depth : kDepths)
      for (const double size : sizes) {
        AgentRecord r = record("flash-sweep", "sample", t += 10, simulated);
        r.strings["pattern"] = pattern;
        r.numbers["read_bytes"] = size;
        r.numbers["queue_depth"] = depth;
        const double mb_s = scale * std::min(2000.0, size / 4096 * 40 * std::sqrt(double(depth)) *
                                                        (pattern == "random" ? 1.0 : 1.8));
        r.numbers["mb_s"] = mb_s;
        r.numbers["iops"] = mb_s * 1e6 / size;
        const double mean = size / (mb_s * 1e6) * 1e6 * depth;
        r.numbers["lat_us.mean"] = mean;
        r.numbers["lat_us.p50"] = mean * 0.9;
        r.numbers["lat_us.p90"] = mean * 1.5;
        r.numbers["lat_us.p99"] = mean * 3.0 + uniform(0, 5);
        r.numbers["direct"] = 1;
        out.push_back(r);
      }
  AgentRecord result = record("flash-sweep", "result", t + 10, simulated);
  result.numbers["points"] = double(out.size());
  result.numbers["file_bytes"] = 64 << 20;
  out.push_back(result);
  return out;
}

const std::vector<std::string> kKernels = {"quant-gemm-q4_0-tile", "lut-softmax", "gemv-f32"};

std::vector<AgentRecord> kernelRecords(const std::vector<int>& batches, double speed = 1) {
  std::vector<AgentRecord> out;
  double t = 0;
  for (const auto& kernel : kKernels)
    for (const int batch : batches) {
      AgentRecord r = record("kernels", "sample", t += 5);
      r.strings["kernel"] = kernel;
      r.strings["backend"] = "cpu-neon";
      r.numbers["batch"] = batch;
      r.numbers["rows"] = 4096;
      r.numbers["cols"] = 4096;
      const double base = kernel == "gemv-f32" ? 8.0 : kernel == "lut-softmax" ? 0.05 : 1.2;
      r.numbers["ms"] = base * std::max(1.0, batch / 8.0) / speed;
      r.numbers["gb_s"] = 9.0 * batch / std::max(1.0, batch / 8.0) * speed / (kernel == "gemv-f32" ? 8 : 1);
      out.push_back(r);
    }
  return out;
}

std::vector<AgentRecord> replayRecords(int tokens, std::vector<double>* latencies = nullptr) {
  std::vector<AgentRecord> out;
  for (int t = 0; t < tokens; ++t) {
    AgentRecord r = record("flash-replay", "sample", 100 + t * 7.0);
    r.numbers["token"] = t;
    r.numbers["reads"] = uniformInt(10, 60);
    r.numbers["bytes_read"] = r.numbers["reads"] * 8192;
    r.numbers["cache_hits"] = uniformInt(0, 40);
    const double ms = uniform(0.5, 2.0) + (uniformInt(0, 30) == 0 ? uniform(5, 20) : 0);
    r.numbers["latency_ms"] = ms;
    if (latencies) latencies->push_back(ms);
    out.push_back(r);
  }
  return out;
}

const std::vector<std::string> kZones = {"cpu-thermal", "gpu-thermal", "battery"};

std::vector<AgentRecord> monitorRecords(int samples, int cores, double t0) {
  std::vector<AgentRecord> out;
  for (int i = 0; i < samples; ++i) {
    AgentRecord r = record("monitor", "sample", t0 + i * 500.0);
    for (int c = 0; c < cores; ++c) r.numbers["cpu_freq_khz." + std::to_string(c)] = 300000 + 100000 * ((i + c) % 20);
    for (std::size_t z = 0; z < kZones.size(); ++z) {
      const std::string prefix = "thermal." + std::to_string(z) + ".";
      r.strings[prefix + "type"] = kZones[z];
      r.strings[prefix + "zone"] = "thermal_zone" + std::to_string(z);
      r.numbers[prefix + "temp_c"] = 30 + 5 * double(z) + 0.1 * i;
    }
    r.numbers["mem_available_bytes"] = 3e9;
    r.numbers["load1"] = 1.5;
    out.push_back(r);
  }
  return out;
}

AgentRecord infoRecord(bool simulated) {
  AgentRecord r = record("info", "info", 1, simulated);
  r.strings["cpu.abi"] = "arm64-v8a";
  r.strings["cpu.model"] = "Snapdragon 8 Gen 3";
  r.numbers["cpu.cores"] = 8;
  r.numbers["memory.total_bytes"] = 12.0 * (1 << 30);
  r.numbers["memory.available_bytes"] = 5.0 * (1 << 30);
  r.strings["storage.device"] = "sda";
  r.strings["storage.scheduler"] = "mq-deadline";
  r.strings["android.ro.product.model"] = "Pixel 8";
  r.strings["backends.0.name"] = "cpu-neon";
  r.numbers["backends.0.available"] = 1;
  r.strings["backends.1.name"] = "npu";
  r.numbers["backends.1.available"] = 0;
  r.strings["backends.1.reason"] = "no vendor runtime library";
  return r;
}

// A record as the agent prints it (one JSON line), for stored profiles: dotted keys become
// nested objects again.
std::string jsonLine(const AgentRecord& r) {
  struct Node {
    std::map<std::string, Node> kids;
    std::string leaf;  // JSON text of a value
  };
  Node root;
  auto put = [&](const std::string& key, const std::string& json) {
    Node* n = &root;
    std::size_t start = 0;
    for (;;) {
      const auto dot = key.find('.', start);
      n = &n->kids[key.substr(start, dot == std::string::npos ? std::string::npos : dot - start)];
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    n->leaf = json;
  };
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (const char c : s) q += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
    return q + "\"";
  };
  put("v", "1");
  put("cmd", quote(r.cmd));
  put("type", quote(r.type));
  put("t_ms", QString::number(r.t_ms, 'g', 17).toStdString());
  if (r.simulated) put("simulated", "true");
  for (const auto& [k, v] : r.numbers) put(k, QString::number(v, 'g', 17).toStdString());
  for (const auto& [k, v] : r.strings) put(k, quote(v));
  std::function<std::string(const Node&)> print = [&](const Node& n) -> std::string {
    if (n.kids.empty()) return n.leaf;
    std::string out = "{";
    for (const auto& [k, kid] : n.kids) out += (out.size() > 1 ? "," : "") + quote(k) + ":" + print(kid);
    return out + "}";
  };
  return print(root);
}

std::int64_t storeProfile(Store& store, std::int64_t device_id, const std::string& kind,
                          const std::string& label, bool simulated, const std::vector<AgentRecord>& records) {
  DeviceProfile p;
  p.device_id = device_id;
  p.kind = kind;
  p.backend = kind == "kernels" ? "cpu-neon" : "sda";
  p.payload = "{\"v\":1,\"cmd\":\"" + kind + "\",\"type\":\"request\",\"t_ms\":0,\"label\":\"" + label +
              "\",\"simulated\":" + (simulated ? "true" : "false") + "}\n";
  for (const auto& r : records) p.payload += jsonLine(r) + "\n";
  return store.addDeviceProfile(p);
}

void feed(ProfilePanel& panel, const std::vector<AgentRecord>& records) {
  for (const auto& r : records) panel.recordBuffer()->append(r);
  panel.drainNow();
}

adb::DeviceEntry entry(const std::string& serial, const std::string& state, const std::string& model,
                       const std::string& transport) {
  adb::DeviceEntry e;
  e.serial = serial;
  e.state = state;
  if (!model.empty()) e.attributes["model"] = model;
  e.attributes["transport_id"] = transport;
  return e;
}

device::DeviceDescription description(const std::string& serial, const std::string& model,
                                      const std::string& abi, bool simulated) {
  device::DeviceDescription d;
  d.serial = serial;
  d.state = "device";
  d.model = model;
  d.abi = abi;
  d.simulated = simulated;
  d.fingerprint = "google/shiba/shiba:14/AP1A.240305.019/11349:user/release-keys";
  d.properties = {{"ro.product.model", model},
                  {"ro.product.cpu.abi", abi},
                  {"ro.build.fingerprint", d.fingerprint},
                  {"ro.soc.model", "SM8650"},
                  {"ro.build.version.sdk", "34"},
                  {"persist.sys.timezone", "Europe/Berlin"}};
  if (simulated) d.properties["ro.darkroom.simulated"] = "1";
  return d;
}

template <typename Panel>
void screenshotsInBothThemes(Panel& panel, const QString& name) {
  panel.show();
  QVERIFY(QTest::qWaitForWindowExposed(&panel));
  for (const Theme theme : {Theme::Dark, Theme::Light}) {
    applyTheme(*qApp, theme);
    panel.applyTheme();
    QTest::qWait(60);
    saveScreenshot(&panel, name + (theme == Theme::Dark ? "_dark" : "_light"));
  }
  applyTheme(*qApp, Theme::Dark);
  panel.applyTheme();
}

}  // namespace

class DevicesViewsTest : public QObject {
  Q_OBJECT

 private slots:
  void sweepSeriesFollowPatternDepthAndSize() {
    const auto sizes = randomSizes();
    ProfileSeriesBuilder data("flash-sweep");
    auto records = sweepRecords(sizes, false);
    // A point measured again replaces the first measurement instead of adding a second one.
    AgentRecord again = records[2];
    again.numbers["mb_s"] = 12345;
    records.insert(records.begin() + 5, again);
    data.add(records);
    QCOMPARE(data.samples(), records.size() - 1);
    QCOMPARE(data.variants(ProfileChartId::SweepThroughput).size(), kPatterns.size() * kDepths.size());
    QCOMPARE(data.variants(ProfileChartId::SweepThroughput).front(), std::string("random · QD 1"));
    QCOMPARE(data.measures(ProfileChartId::SweepLatency), (std::vector<std::string>{"p50", "p90", "p99"}));
    QCOMPARE(data.series(ProfileChartId::SweepThroughput).size(), std::size_t(6));
    QCOMPARE(data.series(ProfileChartId::SweepLatency).size(), std::size_t(18));
    for (const ChartSeries* s : data.series(ProfileChartId::SweepIops)) {
      QCOMPARE(s->points.size(), sizes.size());
      QVERIFY(std::is_sorted(s->points.begin(), s->points.end(),
                             [](const ChartPoint& a, const ChartPoint& b) { return a.x < b.x; }));
    }
    const ChartSeries* first = data.find(ProfileChartId::SweepThroughput, 0,
                                         sweepVariant(again.text("pattern"), int(again.number("queue_depth"))));
    QVERIFY(first);
    const auto at = std::find_if(first->points.begin(), first->points.end(),
                                 [&](const ChartPoint& p) { return p.x == again.number("read_bytes"); });
    QCOMPARE(at->y, 12345.0);
    QVERIFY(!data.simulated());
    QCOMPARE(data.latest("result")->number("points"), double(records.size() - 2));
    // Nearest-rank percentiles.
    QCOMPARE(sortedPercentile({1, 2, 3, 4}, 50), 2.0);
    QCOMPARE(sortedPercentile({1, 2, 3, 4}, 99), 4.0);
    QCOMPARE(sortedPercentile({7}, 1), 7.0);
    QVERIFY(std::isnan(sortedPercentile({}, 50)));
  }

  void sweepChartsDrawEveryPointOnLogAxes() {
    ProfilePanel panel(nullptr);
    panel.resize(1500, 820);
    const auto sizes = randomSizes();
    panel.beginLive("flash-sweep");
    QVERIFY(!panel.simulatedBadgeShown());
    feed(panel, sweepRecords(sizes, true));
    panel.endLive();
    QVERIFY(panel.simulatedBadgeShown());
    ProfileChartSet* set = panel.liveCharts();
    ProfileChartView* mb = set->chart(ProfileChartId::SweepThroughput);
    ProfileChartView* iops = set->chart(ProfileChartId::SweepIops);
    ProfileChartView* latency = set->chart(ProfileChartId::SweepLatency);
    QCOMPARE(mb->dataGraphCount(), 6);
    QCOMPARE(mb->drawnPoints(), int(6 * sizes.size()));
    QCOMPARE(iops->dataGraphCount(), 6);
    QCOMPARE(latency->dataGraphCount(), 18);
    QCOMPARE(latency->drawnPoints(), int(18 * sizes.size()));
    for (auto* chart : {mb, iops, latency}) {
      QCOMPARE(chart->xAxis->scaleType(), QCPAxis::stLogarithmic);
      QVERIFY(chart->emptyText().isEmpty());
    }
    QCOMPARE(mb->yAxis->scaleType(), QCPAxis::stLinear);
    QCOMPARE(iops->yAxis->scaleType(), QCPAxis::stLogarithmic);
    QCOMPARE(latency->yAxis->scaleType(), QCPAxis::stLogarithmic);
    // The x axis labels the sizes read: 4K, 8K, …
    auto ticker = mb->xAxis->ticker().dynamicCast<QCPAxisTickerText>();
    QVERIFY(ticker);
    QCOMPARE(ticker->ticks().size(), int(sizes.size()));
    QCOMPARE(ticker->ticks().value(4096), QString("4K"));
    // One value checked against its record.
    QCPGraph* g = latency->seriesGraph(0, "sequential · QD 32", "p99");
    QVERIFY(g);
    QCOMPARE(g->dataCount(), int(sizes.size()));
    // Colours follow the variant; the percentiles are dashes in one legend with the variants.
    QCOMPARE(latency->seriesGraph(0, "random · QD 4", "p50")->pen().color(),
             latency->seriesGraph(0, "random · QD 4", "p99")->pen().color());
    QVERIFY(latency->seriesGraph(0, "random · QD 4", "p50")->pen().style() !=
            latency->seriesGraph(0, "random · QD 4", "p99")->pen().style());
    QVERIFY(latency->seriesGraph(0, "random · QD 4", "p50")->pen().color() !=
            latency->seriesGraph(0, "random · QD 1", "p50")->pen().color());
    const QStringList legend = latency->legendNames();
    QVERIFY2(legend.contains("random · QD 1") && legend.contains("sequential · QD 32") &&
                 legend.contains("p50") && legend.contains("p99"),
             qPrintable(legend.join(", ")));
    QCOMPARE(legend.size(), 6 + 3);
    QVERIFY(!mb->legend->visible());
    QVERIFY(latency->legend->visible());
    QVERIFY2(set->summaryText().contains("best") && set->summaryText().contains("MB/s"),
             qPrintable(set->summaryText()));
    // A progress record is said while it is the newest, not after samples followed it.
    AgentRecord progress = record("flash-sweep", "progress", 1);
    progress.strings["message"] = "writing flash-sweep.bin";
    feed(panel, {progress});
    QVERIFY2(set->summaryText().contains("writing flash-sweep.bin"), qPrintable(set->summaryText()));
    feed(panel, {sweepRecords(sizes, true).front()});
    QVERIFY2(!set->summaryText().contains("writing"), qPrintable(set->summaryText()));
    // One variant alone.
    set->variantBox()->setCurrentIndex(set->variantBox()->findData("random · QD 4"));
    QCOMPARE(mb->dataGraphCount(), 1);
    QCOMPARE(latency->dataGraphCount(), 3);
    set->variantBox()->setCurrentIndex(0);
    QCOMPARE(mb->dataGraphCount(), 6);
    // A new run starts empty, says it waits, and real records without the flag show no badge.
    panel.beginLive("flash-sweep");
    QCOMPARE(mb->dataGraphCount(), 0);
    QVERIFY(!mb->emptyText().isEmpty());
    feed(panel, sweepRecords(sizes, false));
    panel.endLive();
    QVERIFY(!panel.simulatedBadgeShown());
  }

  void replayDrawsTokensAndRunningPercentiles() {
    ProfilePanel panel(nullptr);
    std::vector<double> latencies;
    const int tokens = uniformInt(37, 600);
    auto records = replayRecords(tokens, &latencies);
    panel.beginLive("flash-replay");
    // In pieces, as the timer would take them.
    const std::size_t cut = std::size_t(uniformInt(1, tokens - 1));
    feed(panel, {records.begin(), records.begin() + long(cut)});
    feed(panel, {records.begin() + long(cut), records.end()});
    ProfileChartView* chart = panel.liveCharts()->chart(ProfileChartId::ReplayLatency);
    QCOMPARE(chart->dataGraphCount(), 3);
    QCPGraph* perToken = chart->seriesGraph(0, "per token", "latency");
    QCPGraph* p50 = chart->seriesGraph(0, "per token", "running p50");
    QCPGraph* p99 = chart->seriesGraph(0, "per token", "running p99");
    QVERIFY(perToken && p50 && p99);
    QCOMPARE(perToken->dataCount(), tokens);
    QCOMPARE(p99->dataCount(), tokens);
    for (int check = 0; check < 5; ++check) {
      const int t = uniformInt(0, tokens - 1);
      std::vector<double> prefix(latencies.begin(), latencies.begin() + t + 1);
      std::sort(prefix.begin(), prefix.end());
      QCOMPARE(p50->data()->at(t)->value, sortedPercentile(prefix, 50));
      QCOMPARE(p99->data()->at(t)->value, sortedPercentile(prefix, 99));
      QCOMPARE(perToken->data()->at(t)->value, latencies[std::size_t(t)]);
    }
    QVERIFY2(panel.liveCharts()->summaryText().contains(QString("%1 tokens so far").arg(tokens)),
             qPrintable(panel.liveCharts()->summaryText()));
    AgentRecord result = record("flash-replay", "result", 1e5);
    for (const char* k : {"p50_ms", "p90_ms", "p99_ms", "iops", "effective_mb_s"}) result.numbers[k] = 1.25;
    result.strings["engine"] = "io_uring";
    result.strings["policy"] = "linked";
    feed(panel, {result});
    QVERIFY2(panel.liveCharts()->summaryText().contains("p99 1.25 ms") &&
                 panel.liveCharts()->summaryText().contains("engine io_uring"),
             qPrintable(panel.liveCharts()->summaryText()));
    panel.endLive();
  }

  void kernelsAndMonitorCharts() {
    ProfilePanel panel(nullptr);
    std::vector<int> batches;
    for (int b = 1; b <= (1 << uniformInt(1, 6)); b *= 2) batches.push_back(b);
    panel.beginLive("kernels");
    feed(panel, kernelRecords(batches));
    ProfileChartView* time = panel.liveCharts()->chart(ProfileChartId::KernelTime);
    ProfileChartView* bandwidth = panel.liveCharts()->chart(ProfileChartId::KernelBandwidth);
    QCOMPARE(time->dataGraphCount(), int(kKernels.size()));
    QCOMPARE(bandwidth->dataGraphCount(), int(kKernels.size()));
    QCOMPARE(time->drawnPoints(), int(kKernels.size() * batches.size()));
    QCOMPARE(time->xAxis->scaleType(), QCPAxis::stLogarithmic);
    // gemv-f32 takes 160× the softmax: a log axis keeps both readable.
    QCOMPARE(time->yAxis->scaleType(), QCPAxis::stLogarithmic);
    QCOMPARE(time->seriesGraph(0, "lut-softmax")->data()->at(0)->value, 0.05);
    QCOMPARE(bandwidth->legendNames(), (QStringList{"quant-gemm-q4_0-tile", "lut-softmax", "gemv-f32"}));
    panel.endLive();

    const int cores = uniformInt(2, 9), samples = uniformInt(3, 80);
    panel.beginLive("monitor");
    feed(panel, monitorRecords(samples, cores, 12345));
    ProfileChartView* temp = panel.liveCharts()->chart(ProfileChartId::Temperature);
    ProfileChartView* freq = panel.liveCharts()->chart(ProfileChartId::Frequency);
    QCOMPARE(temp->dataGraphCount(), int(kZones.size()));
    QCOMPARE(freq->dataGraphCount(), cores);
    QCOMPARE(freq->drawnPoints(), cores * samples);
    QCOMPARE(temp->legendNames(), (QStringList{"cpu-thermal", "gpu-thermal", "battery"}));
    // Time from the first sample, in seconds; frequencies in MHz.
    QCPGraph* cpu0 = freq->seriesGraph(0, "cpu 0");
    QCOMPARE(cpu0->data()->at(0)->key, 0.0);
    QCOMPARE(cpu0->data()->at(samples - 1)->key, (samples - 1) * 0.5);
    QCOMPARE(cpu0->data()->at(0)->value, 300.0);
    QCOMPARE(temp->xAxis->scaleType(), QCPAxis::stLinear);
    panel.endLive();
    // A core without cpufreq in one sample (null, so no key) loses that point only; a warning
    // is said.
    auto gappy = monitorRecords(samples, cores, 0);
    gappy[std::size_t(samples / 2)].numbers.erase("cpu_freq_khz.0");
    gappy[std::size_t(samples / 2)].numbers.erase("thermal.1.temp_c");
    gappy.back().strings["warning"] = "thermal_zone7 refused the read";
    panel.beginLive("monitor");
    feed(panel, gappy);
    QCOMPARE(freq->seriesGraph(0, "cpu 0")->dataCount(), samples - 1);
    QCOMPARE(freq->seriesGraph(0, "cpu 1")->dataCount(), samples);
    QCOMPARE(temp->seriesGraph(0, "gpu-thermal")->dataCount(), samples - 1);
    QVERIFY2(panel.liveCharts()->summaryText().contains("Warning: thermal_zone7 refused the read"),
             qPrintable(panel.liveCharts()->summaryText()));
    panel.endLive();

    // Info: a filterable table of the record's fields.
    panel.beginLive("info");
    feed(panel, {infoRecord(false)});
    KeyValueTable* table = panel.liveCharts()->infoTable();
    QVERIFY(table->visibleRows() >= 10);
    table->filterEdit()->setText("backends.1");
    QCOMPARE(table->visibleRows(), 3);
    table->filterEdit()->setText("vendor runtime");
    QCOMPARE(table->visibleRows(), 1);
    QCOMPARE(table->cell(0, 0), QString("backends.1.reason"));
    table->filterEdit()->clear();
    QVERIFY2(panel.liveCharts()->summaryText().contains("Snapdragon 8 Gen 3 · 8 cores"),
             qPrintable(panel.liveCharts()->summaryText()));
    // An error record is said, not drawn.
    AgentRecord error = record("kernels", "error", 3);
    error.strings["message"] = "npu: no vendor runtime library (libQnnHtp.so)";
    panel.beginLive("kernels");
    feed(panel, {error});
    QVERIFY2(panel.liveCharts()->summaryText().contains("libQnnHtp.so"), qPrintable(panel.liveCharts()->summaryText()));
    panel.endLive();
  }

  // Thousands of records from a worker thread: all of them drawn, the charts redrawn at most
  // once per timer tick.
  void liveRecordsAreCoalesced() {
    ProfilePanel panel(nullptr);
    panel.beginLive("flash-replay");
    const int total = uniformInt(3000, 6000);
    auto records = replayRecords(total);
    std::atomic<bool> done{false};
    const auto t0 = std::chrono::steady_clock::now();
    auto buffer = panel.recordBuffer();
    std::thread producer([&] {
      for (int i = 0; i < total; ++i) {
        buffer->append(records[std::size_t(i)]);
        if (i % 5 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      done = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(done.load() && panel.liveData().records() == std::size_t(total), 20000);
    producer.join();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    panel.endLive();
    QCOMPARE(buffer->appended(), std::size_t(total));
    QCOMPARE(panel.liveData().records(), std::size_t(total));
    QCPGraph* perToken = panel.liveCharts()->chart(ProfileChartId::ReplayLatency)->seriesGraph(0, "per token", "latency");
    QCOMPARE(perToken->dataCount(), total);
    for (int t = 0; t < total; t += 997) QCOMPARE(perToken->data()->at(t)->key, double(t));
    // A coarse timer may fire up to 5 % early.
    const int bound = int(ms / (ProfilePanel::kRedrawIntervalMs * 0.95)) + 3;
    qInfo("%d records in %.0f ms: %d redraws (at most %d allowed)", total, ms, panel.redrawCount(), bound);
    QVERIFY2(panel.redrawCount() <= bound, qPrintable(QString("%1 redraws").arg(panel.redrawCount())));
    QVERIFY(panel.redrawCount() >= 1);
    QVERIFY(panel.redrawCount() < total / 10);
  }

  void comparisonOverlaysStoredProfiles() {
    QTemporaryDir dir;
    auto ws = Workspace::create(dir.filePath("ws").toStdString());
    Store& store = ws.store();
    Device pixel;
    pixel.serial = "R5CT100ABC";
    pixel.model = "Pixel 8";
    pixel.abi = "arm64-v8a";
    const auto pixelId = store.upsertDevice(pixel);
    Device sim;
    sim.serial = "127.0.0.1:40001";
    sim.model = "Darkroom SimPhone";
    sim.abi = "x86_64";
    sim.simulated = true;
    const auto simId = store.upsertDevice(sim);
    const auto sizes = randomSizes();
    const auto stock = storeProfile(store, pixelId, "flash-sweep", "stock", false, sweepRecords(sizes, false));
    const auto simulated = storeProfile(store, simId, "flash-sweep", "sim", true, sweepRecords(sizes, true, 0.5));
    const auto saver = storeProfile(store, pixelId, "flash-sweep", "battery saver", false, sweepRecords(sizes, false, 0.7));
    std::vector<int> batches = {1, 2, 4, 8};
    const auto kernels = storeProfile(store, pixelId, "kernels", "", false, kernelRecords(batches));

    JobBridge jobs(1);
    ProfilePanel panel(&jobs);
    panel.resize(1500, 820);
    panel.setWorkspace(&ws);
    ProfileComparison* comparison = panel.comparison();
    QCOMPARE(comparison->kind(), QString("flash-sweep"));
    QTRY_VERIFY_WITH_TIMEOUT(!comparison->loading() && comparison->profiles().size() == 3, 10000);
    QCOMPARE(comparison->profiles()[0].row.id, saver);  // newest first
    // The newest two are ticked: one colour each.
    QCOMPARE(comparison->checkedIds(), (std::vector<std::int64_t>{saver, simulated}));
    ProfileChartView* mb = comparison->charts()->chart(ProfileChartId::SweepThroughput);
    ProfileChartView* latency = comparison->charts()->chart(ProfileChartId::SweepLatency);
    QCOMPARE(mb->dataGraphCount(), 2 * 6);
    QCOMPARE(mb->drawnPoints(), int(2 * 6 * sizes.size()));
    QCOMPARE(mb->seriesGraph(0, "random · QD 1")->pen().color(), mb->seriesGraph(0, "sequential · QD 4")->pen().color());
    QVERIFY(mb->seriesGraph(0, "random · QD 1")->pen().color() != mb->seriesGraph(1, "random · QD 1")->pen().color());
    const QString date = QDateTime::fromSecsSinceEpoch(qint64(comparison->profiles()[0].row.created_at))
                             .toString("yyyy-MM-dd hh:mm");
    const QStringList legend = latency->legendNames();
    QVERIFY2(legend.contains("Pixel 8 · battery saver · " + date) &&
                 legend.contains("Darkroom SimPhone · sim · " +
                                 QDateTime::fromSecsSinceEpoch(qint64(comparison->profiles()[1].row.created_at))
                                     .toString("yyyy-MM-dd hh:mm") + " (simulated)"),
             qPrintable(legend.join(" | ")));
    QVERIFY(legend.contains("p99"));
    QVERIFY(comparison->list()->item(1)->text().contains("simulated"));
    // The sweep's headline from the session library is listed with each profile.
    QVERIFY2(comparison->list()->item(0)->text().contains("MB/s"), qPrintable(comparison->list()->item(0)->text()));
    // All three, then one variant of all three.
    comparison->check({stock, simulated, saver});
    QCOMPARE(mb->dataGraphCount(), 3 * 6);
    QCOMPARE(latency->dataGraphCount(), 3 * 18);
    comparison->charts()->variantBox()->setCurrentIndex(comparison->charts()->variantBox()->findData("random · QD 32"));
    QCOMPARE(mb->dataGraphCount(), 3);
    QCOMPARE(mb->seriesGraph(2, "random · QD 32")->dataCount(), int(sizes.size()));
    QCOMPARE(mb->seriesGraph(2, "random · QD 32")->pen().style(), Qt::SolidLine);  // one variant: no dashes
    QVERIFY2(comparison->charts()->summaryText().contains("Pixel 8 · stock"),
             qPrintable(comparison->charts()->summaryText()));
    comparison->check({});
    QCOMPARE(mb->dataGraphCount(), 0);
    QVERIFY(!mb->emptyText().isEmpty());
    // Another kind lists its own profiles.
    comparison->setKind("kernels");
    QTRY_VERIFY_WITH_TIMEOUT(!comparison->loading() && comparison->profiles().size() == 1, 10000);
    QCOMPARE(comparison->profiles()[0].row.id, kernels);
    QCOMPARE(comparison->charts()->chart(ProfileChartId::KernelTime)->dataGraphCount(), int(kKernels.size()));
    comparison->setKind("monitor");
    QTRY_VERIFY_WITH_TIMEOUT(!comparison->loading(), 10000);
    QVERIFY(comparison->profiles().empty());
    QVERIFY2(comparison->message().contains("No monitor profiles"), qPrintable(comparison->message()));

    // Screenshots of the comparison with the three sweeps.
    comparison->setKind("flash-sweep");
    QTRY_VERIFY_WITH_TIMEOUT(!comparison->loading() && comparison->profiles().size() == 3, 10000);
    comparison->check({stock, simulated, saver});
    panel.tabs()->setCurrentIndex(1);
    screenshotsInBothThemes(panel, "profile_comparison");
    comparison->charts()->variantBox()->setCurrentIndex(comparison->charts()->variantBox()->findData("random · QD 4"));
    QTest::qWait(30);
    saveScreenshot(&panel, "profile_comparison_one_variant");
  }

  void profileFormChecksItsFields() {
    QString error;
    QCOMPARE(parseSizeList("4K, 16k 1M,4096", &error), (std::vector<std::int64_t>{4096, 16384, 1 << 20, 4096}));
    QVERIFY(parseSizeList("4K, pages", &error).empty());
    QVERIFY2(error.contains("\"pages\""), qPrintable(error));
    QVERIFY(parseSizeList("6000", &error).empty());
    QVERIFY2(error.contains("multiple of 4K"), qPrintable(error));
    QVERIFY(parseSizeList("", &error).empty());

    QTemporaryDir dir;
    auto ws = Workspace::create(dir.filePath("ws").toStdString());
    JobBridge jobs(1);
    ProfilePanel panel(&jobs);
    panel.setWorkspace(&ws);
    ProfileForm* form = panel.form();
    // No device: refused with what to do.
    QCOMPARE(panel.run(), std::uint64_t(0));
    QVERIFY2(panel.message().contains("Devices panel"), qPrintable(panel.message()));
    panel.setDevices({{"R5CT100ABC", "unauthorized", "Pixel 8", "", false}, {"127.0.0.1:40001", "device", "Darkroom SimPhone", "x86_64", true}});
    QCOMPARE(form->serial(), QString("127.0.0.1:40001"));  // the ready one
    QVERIFY(form->deviceBox()->currentText().contains("simulated"));
    panel.selectDevice("R5CT100ABC");  // not ready: cannot be chosen
    QCOMPARE(form->serial(), QString("127.0.0.1:40001"));
    form->setKind("flash-sweep");
    form->sizesEdit()->setText("4K, lots");
    QCOMPARE(panel.run(), std::uint64_t(0));
    QVERIFY2(panel.message().contains("\"lots\""), qPrintable(panel.message()));
    form->sizesEdit()->setText("4K, 64M");
    form->fileMbBox()->setValue(32);
    QVERIFY2(form->problem().contains("32 MiB test file"), qPrintable(form->problem()));
    form->fileMbBox()->setValue(64);
    form->sizesEdit()->setText("4K, 1M");
    form->randomBox()->setChecked(false);
    form->sequentialBox()->setChecked(false);
    QVERIFY(form->problem().contains("pattern"));
    form->sequentialBox()->setChecked(true);
    form->depthsEdit()->setText("1, 0");
    QVERIFY2(form->problem().contains("queue depths"), qPrintable(form->problem()));
    form->depthsEdit()->setText("2");
    QVERIFY(form->problem().isEmpty());
    auto r = form->request();
    QCOMPARE(r.kind, std::string("flash-sweep"));
    QCOMPARE(r.args, (std::vector<std::string>{"--file-mb", "64", "--sizes", "4096,1048576", "--patterns",
                                               "sequential", "--depths", "2", "--seconds", "0.5"}));
    form->setKind("flash-replay");
    QVERIFY2(form->problem().contains("layout"), qPrintable(form->problem()));
    form->layoutEdit()->setText(dir.filePath("missing.layout"));
    form->traceEdit()->setText(dir.filePath("missing.safetensors"));
    QVERIFY2(form->problem().contains("missing.layout") && form->problem().contains("does not exist"),
             qPrintable(form->problem()));
    form->setKind("kernels");
    form->batchesEdit()->setText("1 2 4");
    form->backendBox()->setCurrentIndex(form->backendBox()->findData("reference"));
    r = form->request();
    QCOMPARE(r.args, (std::vector<std::string>{"--batches", "1,2,4", "--rows", "4096", "--cols", "4096",
                                               "--backend", "reference", "--kv", "1024", "--min-ms", "200"}));
    form->kernelBoxes()[1]->setChecked(false);
    form->kernelBoxes()[3]->setChecked(false);
    QCOMPARE(form->request().args.back(), std::string("quant-gemm,softmax"));
    for (auto* box : form->kernelBoxes()) box->setChecked(false);
    QVERIFY2(form->problem().contains("kernel"), qPrintable(form->problem()));
    for (auto* box : form->kernelBoxes()) box->setChecked(true);
    form->setKind("monitor");
    QCOMPARE(form->request().args, (std::vector<std::string>{"--interval-ms", "500", "--count", "120"}));
    QVERIFY(!panel.busy());
  }

  // Push progress reaches the panel as structured updates, of which the timer shows the latest.
  void transferUpdatesKeepTheLatest() {
    RecordBuffer buffer;
    QVERIFY(!buffer.takeTransfer());
    std::mt19937_64 rng(std::random_device{}());
    const std::int64_t total = 1 + std::int64_t(rng() % (1 << 28));
    std::int64_t done = 0;
    while (done < total) {
      done = std::min(total, done + 65536);
      buffer.setTransfer({"darkroom-agent", done, total, 40.0, false});
    }
    auto last = buffer.takeTransfer();
    QVERIFY(last);
    QCOMPARE(last->done, total);
    QCOMPARE(last->total, total);
    QVERIFY(!buffer.takeTransfer());  // taken once
    buffer.setTransfer({"layout v2.bin", 10, 10, 0, true});
    last = buffer.takeTransfer();
    QVERIFY(last && last->skipped);
    QCOMPARE(QString::fromStdString(last->name), QString("layout v2.bin"));
  }

  // The main window has both docks; it follows the device list only once one of them shows.
  void mainWindowHasTheDocks() {
    MainWindow window;
    QVERIFY(window.findChild<QDockWidget*>("dock.devices"));
    QVERIFY(window.findChild<QDockWidget*>("dock.profile"));
    QCOMPARE(window.devicesPanel()->tracker()->state(), DeviceTracker::State::Stopped);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QTest::qWait(200);
    QCOMPARE(window.devicesPanel()->tracker()->state(), DeviceTracker::State::Stopped);
    window.findChild<QDockWidget*>("dock.profile")->raise();
    if (!adbProgramFound("adb")) return;
    QTRY_COMPARE_WITH_TIMEOUT(window.devicesPanel()->tracker()->state(), DeviceTracker::State::Tracking, 20000);
    QCOMPARE(window.devicesPanel()->tracker()->address().port, adbServer().port);
  }

  void deviceListFollowsTheServer() {
    DeviceListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    auto describe = model.setEntries({entry("R5CT100ABC", "device", "Pixel_8", "1"),
                                      entry("emulator-5554", "offline", "", "2")});
    QCOMPARE(describe, (std::vector<std::string>{"R5CT100ABC"}));  // only ready devices
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.index(0, DeviceListModel::Model).data().toString(), QString("Pixel 8"));
    QCOMPARE(model.index(0, DeviceListModel::Abi).data().toString(), QString("…"));
    QCOMPARE(model.index(1, DeviceListModel::Kind).data().toString(), QString("emulator"));
    // Asked again while being described: not twice.
    QVERIFY(model.setEntries({entry("R5CT100ABC", "device", "Pixel_8", "1"), entry("emulator-5554", "offline", "", "2")}).empty());
    model.setDescription(description("R5CT100ABC", "Pixel 8", "arm64-v8a", false));
    QCOMPARE(model.index(0, DeviceListModel::Abi).data().toString(), QString("arm64-v8a"));
    QCOMPARE(model.index(0, DeviceListModel::Kind).data().toString(), QString("USB"));
    // The simulated phone is labelled before and after it is described.
    model.setSimulatedSerial("127.0.0.1:40001");
    describe = model.setEntries({entry("127.0.0.1:40001", "device", "Darkroom_SimPhone", "3"),
                                 entry("R5CT100ABC", "device", "Pixel_8", "1")});
    QCOMPARE(describe, (std::vector<std::string>{"127.0.0.1:40001"}));
    QCOMPARE(model.rowCount(), 2);  // the emulator left, the phone came
    QCOMPARE(model.rowOf("emulator-5554"), -1);
    const int simRow = model.rowOf("127.0.0.1:40001");
    QCOMPARE(model.index(simRow, DeviceListModel::Kind).data().toString(), QString("simulated"));
    QVERIFY(model.summary(simRow).simulated);
    model.setDescription(description("127.0.0.1:40001", "Darkroom SimPhone", "x86_64", true));
    model.setSimulatedSerial({});
    QCOMPARE(model.index(simRow, DeviceListModel::Kind).data().toString(), QString("simulated"));
    QVERIFY(model.summary(simRow).displayName().endsWith("simulated"));
    // A device that reconnects (new transport) is described again; one that fails says why.
    describe = model.setEntries({entry("127.0.0.1:40001", "device", "Darkroom_SimPhone", "3"),
                                 entry("R5CT100ABC", "device", "Pixel_8", "9")});
    QCOMPARE(describe, (std::vector<std::string>{"R5CT100ABC"}));
    model.setDescribeError("R5CT100ABC", "device 'R5CT100ABC' not found");
    QCOMPARE(model.index(model.rowOf("R5CT100ABC"), DeviceListModel::Abi).data().toString(), QString("unknown"));
    QVERIFY(model.index(model.rowOf("R5CT100ABC"), 0).data(Qt::ToolTipRole).toString().contains("not found"));
    model.setEntries({});
    QCOMPARE(model.rowCount(), 0);
  }

  void connectAddressesAreChecked() {
    QString error;
    QCOMPARE(DevicesPanel::normalizeAddress(" 192.168.1.20 ", &error), QString("192.168.1.20:5555"));
    QCOMPARE(DevicesPanel::normalizeAddress("phone.lan:5037", &error), QString("phone.lan:5037"));
    QCOMPARE(DevicesPanel::normalizeAddress("[::1]:6000", &error), QString("[::1]:6000"));
    DevicesPanel panel(nullptr, adb::ServerAddress{"127.0.0.1", adbServer().port});
    QVERIFY(!panel.connectTo("phone:99999"));
    QVERIFY2(panel.connectError().contains("\"99999\" is not a port"), qPrintable(panel.connectError()));
    QVERIFY(!panel.connectTo(":5555"));
    QVERIFY2(panel.connectError().contains("no host"), qPrintable(panel.connectError()));
    QVERIFY(!panel.connectTo("my phone:5555"));
    QVERIFY2(panel.connectError().contains("spaces"), qPrintable(panel.connectError()));
    QVERIFY(!panel.connectTo("phone;rm:5555"));
    QVERIFY2(panel.connectError().contains("not a host"), qPrintable(panel.connectError()));
    QVERIFY(!panel.connectTo(""));
    QVERIFY(!panel.connectError().isEmpty());
    QCOMPARE(panel.pendingRequests(), 0);  // nothing was sent
  }

  // The real adb server on the test's private port.
  void trackingRestartsWhenTheServerGoesAway() {
    if (!adbProgramFound("adb")) QSKIP("the adb program is not installed (apt install adb)");
    DeviceTracker tracker(adb::ServerAddress{"127.0.0.1", adbServer().port});
    tracker.setRetryDelays(100, 400);
    QSignalSpy states(&tracker, &DeviceTracker::stateChanged);
    tracker.start();
    QTRY_COMPARE_WITH_TIMEOUT(tracker.state(), DeviceTracker::State::Tracking, 20000);
    QVERIFY2(tracker.statusText().contains(QString::number(adbServer().port)), qPrintable(tracker.statusText()));
    QCOMPARE(tracker.attempts(), 1);
    adbServer().kill();
    QTRY_VERIFY_WITH_TIMEOUT(tracker.attempts() >= 2, 20000);
    QTRY_COMPARE_WITH_TIMEOUT(tracker.state(), DeviceTracker::State::Tracking, 30000);
    QVERIFY2(tracker.statusText().contains("is back"), qPrintable(tracker.statusText()));
    bool sawLost = false;
    for (const auto& args : states) sawLost |= args.at(0).value<DeviceTracker::State>() == DeviceTracker::State::Lost;
    QVERIFY(sawLost);
    tracker.stop();
    QCOMPARE(tracker.state(), DeviceTracker::State::Stopped);
  }

  // Looking at the device list does not start a server; asking for one does.
  void noServerIsStartedUntilAskedFor() {
    if (!adbProgramFound("adb")) QSKIP("the adb program is not installed (apt install adb)");
    const int port = freePort();
    DeviceTracker tracker(adb::ServerAddress{"127.0.0.1", port});
    tracker.setRetryDelays(100, 300);
    tracker.start();
    QTRY_COMPARE_WITH_TIMEOUT(tracker.state(), DeviceTracker::State::NoServer, 15000);
    QVERIFY2(tracker.statusText().contains("No adb server is running on port " + QString::number(port)),
             qPrintable(tracker.statusText()));
    QTest::qWait(500);
    QCOMPARE(tracker.state(), DeviceTracker::State::NoServer);
    QVERIFY(tracker.attempts() >= 2);  // it keeps looking
    tracker.startServer();
    QTRY_COMPARE_WITH_TIMEOUT(tracker.state(), DeviceTracker::State::Tracking, 20000);
    tracker.stop();
    PrivateAdbServer::killServer(port);
  }

  void missingAdbIsSaid() {
    adb::ClientOptions options;
    options.adb_binary = "/nonexistent/darkroom-test/adb";
    options.timeout = std::chrono::milliseconds(2000);
    DeviceTracker tracker(adb::ServerAddress{"127.0.0.1", freePort()}, options);
    tracker.setRetryDelays(200, 200);
    tracker.start();
    QTRY_COMPARE_WITH_TIMEOUT(tracker.state(), DeviceTracker::State::NoAdb, 15000);
    QVERIFY2(tracker.statusText().contains("not installed") && tracker.statusText().contains("apt install adb"),
             qPrintable(tracker.statusText()));
    QVERIFY(tracker.devices().empty());
  }

  void refusedConnectIsShownInline() {
    if (!adbProgramFound("adb")) QSKIP("the adb program is not installed (apt install adb)");
    DevicesPanel panel(nullptr, adb::ServerAddress{"127.0.0.1", adbServer().port});
    QVERIFY(panel.connectTo(QString("127.0.0.1:%1").arg(freePort())));
    QTRY_VERIFY_WITH_TIMEOUT(!panel.connectError().isEmpty(), 30000);
    QVERIFY2(panel.connectError().startsWith("Could not connect to 127.0.0.1:"), qPrintable(panel.connectError()));
  }

  // The whole flow on the real adb server: a simulated phone started from the Devices panel
  // appears through tracking, a tiny kernels profile runs on it from the Profile panel (the
  // agent pushed, records drawn live, the profile stored and listed for comparison), and the
  // stopped phone leaves the list.
  void simulatedPhoneIsProfiledEndToEnd() {
    if (!adbProgramFound("adb")) QSKIP("the adb program is not installed (apt install adb)");
    const adb::ServerAddress server{"127.0.0.1", adbServer().port};
    QTemporaryDir dir;
    auto ws = Workspace::create(dir.filePath("ws").toStdString());
    JobBridge jobs(2);
    DevicesPanel devices(nullptr, server);
    ProfilePanel profile(&jobs, nullptr, server);
    connect(&devices, &DevicesPanel::devicesChanged, &profile, &ProfilePanel::setDevices);
    connect(&devices, &DevicesPanel::currentDeviceChanged, &profile, &ProfilePanel::selectDevice);
    profile.setWorkspace(&ws);
    devices.startTracking();
    QTRY_COMPARE_WITH_TIMEOUT(devices.tracker()->state(), DeviceTracker::State::Tracking, 20000);

    devices.startSimulatedPhone();
    QTRY_VERIFY2_WITH_TIMEOUT(devices.phoneRunning() || devices.messageText().contains("Could not"),
                              qPrintable(devices.messageText()), 60000);
    QVERIFY2(devices.phoneRunning(), qPrintable(devices.messageText()));
    const QString serial = devices.phoneSerial();
    QVERIFY(serial.startsWith("127.0.0.1:"));
    // Listed through tracking, described (model, ABI) and labelled simulated.
    auto row = [&] { return devices.model()->rowOf(serial); };
    QTRY_VERIFY_WITH_TIMEOUT(row() >= 0 && devices.model()->summary(row()).ready() &&
                                 !devices.model()->summary(row()).abi.isEmpty(),
                             60000);
    const DeviceSummary phone = devices.model()->summary(row());
    QVERIFY(phone.simulated);
    QCOMPARE(devices.model()->index(row(), DeviceListModel::Kind).data().toString(), QString("simulated"));
    QCOMPARE(phone.abi.toStdString(), device::hostAbi());
    devices.selectDevice(serial);
    QTRY_VERIFY_WITH_TIMEOUT(devices.properties()->visibleRows() > 3, 20000);
    QCOMPARE(profile.form()->serial(), serial);

    // A tiny kernels profile.
    ProfileForm* form = profile.form();
    form->setKind("kernels");
    form->batchesEdit()->setText("1, 2");
    form->rowsBox()->setValue(64);
    form->colsBox()->setValue(96);
    form->kvBox()->setValue(64);
    form->minMsBox()->setValue(5);
    form->backendBox()->setCurrentIndex(form->backendBox()->findData("reference"));
    form->kernelBoxes()[1]->setChecked(false);  // dense-gemm
    form->kernelBoxes()[3]->setChecked(false);  // attention
    form->labelEdit()->setText("views test");
    QVERIFY2(profile.run() != 0, qPrintable(profile.message()));
    QVERIFY(profile.busy());
    QTRY_VERIFY_WITH_TIMEOUT(!profile.busy(), 180000);
    QVERIFY2(profile.lastProfileId() > 0, qPrintable(profile.message()));
    QVERIFY2(profile.message().contains(QString("profile #%1").arg(profile.lastProfileId())),
             qPrintable(profile.message()));
    // Drawn live: the 4-bit GEMM and both softmaxes at two batches.
    ProfileChartView* time = profile.liveCharts()->chart(ProfileChartId::KernelTime);
    QCOMPARE(time->dataGraphCount(), 3);
    QVERIFY(time->seriesGraph(0, "quant-gemm-q4_0-tile"));
    QCOMPARE(time->drawnPoints(), 3 * 2);
    QVERIFY(profile.liveData().simulated());
    QVERIFY(profile.simulatedBadgeShown());
    QVERIFY2(profile.transferText().contains("darkroom-agent"), qPrintable(profile.transferText()));
    QCOMPARE(profile.transferPercent(), 100);
    // Stored, and listed for comparison with its label.
    const auto stored = device::loadProfiles(ws.store(), "kernels");
    QCOMPARE(stored.size(), std::size_t(1));
    QCOMPARE(stored[0].row.id, profile.lastProfileId());
    QCOMPARE(stored[0].label, std::string("views test"));
    QCOMPARE(stored[0].records.size(), profile.liveData().records());
    ProfileComparison* comparison = profile.comparison();
    QTRY_VERIFY_WITH_TIMEOUT(!comparison->loading() && comparison->profiles().size() == 1, 20000);
    QCOMPARE(comparison->charts()->chart(ProfileChartId::KernelTime)->drawnPoints(), 3 * 2);
    // A second run finds the agent on the phone already.
    QVERIFY(profile.run() != 0);
    QTRY_VERIFY_WITH_TIMEOUT(!profile.busy(), 180000);
    QVERIFY2(profile.transferText().contains("already there"), qPrintable(profile.transferText()));

    // A tiny flash sweep: the agent's nested latency percentiles reach the charts.
    form->setKind("flash-sweep");
    form->fileMbBox()->setValue(8);
    form->sizesEdit()->setText("4K, 64K");
    form->depthsEdit()->setText("1, 4");
    form->secondsBox()->setValue(0.05);
    QVERIFY2(profile.run() != 0, qPrintable(profile.message()));
    QTRY_VERIFY_WITH_TIMEOUT(!profile.busy(), 180000);
    QVERIFY2(profile.message().startsWith("Done"), qPrintable(profile.message()));
    QCOMPARE(profile.liveCharts()->chart(ProfileChartId::SweepThroughput)->drawnPoints(), 2 * 2 * 2);
    QCOMPARE(profile.liveCharts()->chart(ProfileChartId::SweepLatency)->drawnPoints(), 2 * 2 * 2 * 3);
    QVERIFY(profile.liveCharts()->summaryText().contains("8 points, test file 8 MiB"));
    qInfo("sweep summary: %s", qPrintable(profile.liveCharts()->summaryText()));

    // Stop ends a run that would go on for minutes; nothing is stored for it.
    form->setKind("monitor");
    form->intervalBox()->setValue(50);
    form->countBox()->setValue(100000);
    QVERIFY(profile.run() != 0);
    QTRY_VERIFY_WITH_TIMEOUT(profile.liveData().samples() >= 3, 60000);
    QVERIFY(profile.busy());
    // A machine without cpufreq reads null: the chart says so instead of waiting.
    ProfileChartView* freq = profile.liveCharts()->chart(ProfileChartId::Frequency);
    QVERIFY2(freq->dataGraphCount() > 0 || freq->emptyText().contains("no cpufreq"), qPrintable(freq->emptyText()));
    profile.stop();
    QTRY_VERIFY_WITH_TIMEOUT(!profile.busy(), 30000);
    QVERIFY2(profile.message().contains("stopped; nothing was stored"), qPrintable(profile.message()));
    QVERIFY(device::loadProfiles(ws.store(), "monitor").empty());

    devices.resize(1300, 560);
    profile.resize(1500, 820);
    devices.show();
    profile.show();
    QVERIFY(QTest::qWaitForWindowExposed(&profile));
    QTest::qWait(60);
    saveScreenshot(&devices, "devices_panel_simphone");
    saveScreenshot(&profile, "profile_panel_simphone_sweep");

    // Stopped: it leaves the list.
    devices.stopSimulatedPhone();
    QTRY_VERIFY_WITH_TIMEOUT(!devices.phoneRunning() && row() < 0, 60000);
    QTRY_VERIFY2_WITH_TIMEOUT(devices.messageText().contains("stopped"), qPrintable(devices.messageText()), 20000);
    QVERIFY(devices.phoneButton()->text().contains("Start"));
  }

  void screenshotsOfTheDevicesPanel() {
    DevicesPanel panel(nullptr, adb::ServerAddress{"127.0.0.1", adbServer().port});
    panel.resize(1300, 560);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QCOMPARE(panel.tracker()->state(), DeviceTracker::State::Stopped);  // hand-built devices below
    panel.setDeviceList({entry("R5CT100ABC", "device", "Pixel_8", "1"), entry("0A281FDD4002B3", "unauthorized", "", "2"),
                         entry("127.0.0.1:40001", "device", "Darkroom_SimPhone", "3")});
    // Describing these made-up serials fails on the real server; then their descriptions arrive.
    QTRY_COMPARE_WITH_TIMEOUT(panel.pendingRequests(), 0, 20000);
    QTest::qWait(50);
    panel.model()->setDescription(description("R5CT100ABC", "Pixel 8", "arm64-v8a", false));
    panel.model()->setDescription(description("127.0.0.1:40001", "Darkroom SimPhone", "x86_64", true));
    panel.selectDevice("127.0.0.1:40001");
    QTRY_COMPARE_WITH_TIMEOUT(panel.pendingRequests(), 0, 20000);
    QTest::qWait(50);
    panel.model()->setDescription(description("127.0.0.1:40001", "Darkroom SimPhone", "x86_64", true));
    QVERIFY2(panel.detailText().contains("Darkroom SimPhone"), qPrintable(panel.detailText()));
    QVERIFY(panel.properties()->visibleRows() >= 6);
    panel.properties()->filterEdit()->setText("ro.build");
    QCOMPARE(panel.properties()->visibleRows(), 2);
    panel.properties()->filterEdit()->clear();
    panel.connectButton()->click();
    panel.connectTo("phone:99999");
    screenshotsInBothThemes(panel, "devices_panel");
  }

  void screenshotsOfTheProfilePanel() {
    ProfilePanel panel(nullptr);
    panel.resize(1500, 820);
    panel.setDevices({{"127.0.0.1:40001", "device", "Darkroom SimPhone", "x86_64", true}});
    panel.beginLive("flash-sweep", true);
    feed(panel, sweepRecords({4096, 16384, 65536, 262144, 1 << 20}, true));
    panel.endLive();
    screenshotsInBothThemes(panel, "profile_panel_sweep");
    panel.form()->setKind("flash-replay");
    panel.beginLive("flash-replay");
    feed(panel, replayRecords(400));
    panel.endLive();
    QTest::qWait(30);
    saveScreenshot(&panel, "profile_panel_replay");
    panel.form()->setKind("kernels");
    panel.beginLive("kernels");
    feed(panel, kernelRecords({1, 2, 4, 8, 16, 32}));
    panel.endLive();
    QTest::qWait(30);
    saveScreenshot(&panel, "profile_panel_kernels");
    panel.form()->setKind("monitor");
    panel.beginLive("monitor");
    feed(panel, monitorRecords(60, 8, 0));
    panel.endLive();
    QTest::qWait(30);
    saveScreenshot(&panel, "profile_panel_monitor");
    panel.form()->setKind("info");
    panel.beginLive("info");
    feed(panel, {infoRecord(true)});
    panel.endLive();
    QTest::qWait(30);
    saveScreenshot(&panel, "profile_panel_info");
  }
};

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  applyTheme(app, Theme::Dark);
  adbServer().start();
  DevicesViewsTest test;
  const int status = QTest::qExec(&test, argc, argv);
  adbServer().kill();
  return status;
}

#include "devices_views_test.moc"
