#include "devices/profile_chart_set.h"

#include "devices/key_value_table.h"
#include "plot/curve_style.h"

#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QStackedWidget>
#include <QTextDocument>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace darkroom::views {

namespace {

QString num(double v, int digits = 3) {
  if (!std::isfinite(v)) return QStringLiteral("–");
  // Thousands and more without an exponent: "52300 IOPS" reads better than "5.23e+04".
  if (std::abs(v) >= 1000) return QString::number(v, 'f', 0);
  return QString::number(v, 'g', digits);
}

QString sizeText(double bytes) {
  if (bytes >= 1 << 20) return QStringLiteral("%1 MiB").arg(num(bytes / (1 << 20)));
  if (bytes >= 1024) return QStringLiteral("%1 KiB").arg(num(bytes / 1024));
  return QStringLiteral("%1 B").arg(num(bytes));
}

// The highest point of a chart: (series, point).
std::pair<const ChartSeries*, ChartPoint> peak(const ProfileSeriesBuilder& data, ProfileChartId chart,
                                               int source) {
  std::pair<const ChartSeries*, ChartPoint> best{nullptr, {}};
  for (const ChartSeries* s : data.series(chart))
    if (s->source == source)
      for (const auto& p : s->points)
        if (!best.first || p.y > best.second.y) best = {s, p};
  return best;
}

QString noReadings(ProfileChartId chart) {
  switch (chart) {
    case ProfileChartId::Temperature:
      return ProfileChartSet::tr("No thermal zone gave a reading: the device has none, or they read null");
    case ProfileChartId::Frequency:
      return ProfileChartSet::tr("No core reports its frequency: the device has no cpufreq");
    default:
      return ProfileChartSet::tr("The records have no values for this chart");
  }
}

}  // namespace

std::map<std::string, std::string> recordFields(const device::AgentRecord& record) {
  std::map<std::string, std::string> fields;
  for (const auto& [key, value] : record.numbers)
    fields[key] = QString::number(value, 'g', 12).toStdString();
  for (const auto& [key, value] : record.strings) fields[key] = value;
  // The envelope is the same in every record: not worth a row.
  for (const char* key : {"v", "seq", "t_ms", "cmd", "type"}) fields.erase(key);
  return fields;
}

ProfileChartSet::ProfileChartSet(QWidget* parent) : QWidget(parent) {
  stack_ = new QStackedWidget;
  emptyPage_ = new QLabel;
  emptyPage_->setObjectName("emptyState");
  emptyPage_->setAlignment(Qt::AlignCenter);
  emptyPage_->setWordWrap(true);
  stack_->addWidget(emptyPage_);
  auto chart = [this](ProfileChartId id) {
    auto* view = new ProfileChartView(id);
    charts_[id] = view;
    return view;
  };

  auto* sweep = new QWidget;
  auto* sweepGrid = new QGridLayout(sweep);
  sweepGrid->setContentsMargins(0, 0, 0, 0);
  sweepGrid->setSpacing(4);
  sweepGrid->addWidget(chart(ProfileChartId::SweepThroughput), 0, 0);
  sweepGrid->addWidget(chart(ProfileChartId::SweepIops), 0, 1);
  sweepGrid->addWidget(chart(ProfileChartId::SweepLatency), 1, 0, 1, 2);
  // Colours mean the same in the three charts: one legend, by the latency chart, says which is
  // which and which dash is which percentile.
  charts_[ProfileChartId::SweepThroughput]->setLegendShown(false);
  charts_[ProfileChartId::SweepIops]->setLegendShown(false);
  pages_["flash-sweep"] = sweep;

  auto* replay = new QWidget;
  auto* replayLayout = new QVBoxLayout(replay);
  replayLayout->setContentsMargins(0, 0, 0, 0);
  replayLayout->addWidget(chart(ProfileChartId::ReplayLatency));
  pages_["flash-replay"] = replay;

  auto* kernels = new QWidget;
  auto* kernelsLayout = new QHBoxLayout(kernels);
  kernelsLayout->setContentsMargins(0, 0, 0, 0);
  kernelsLayout->setSpacing(4);
  kernelsLayout->addWidget(chart(ProfileChartId::KernelTime), 1);
  kernelsLayout->addWidget(chart(ProfileChartId::KernelBandwidth), 1);
  charts_[ProfileChartId::KernelTime]->setLegendShown(false);
  pages_["kernels"] = kernels;

  auto* monitor = new QWidget;
  auto* monitorLayout = new QHBoxLayout(monitor);
  monitorLayout->setContentsMargins(0, 0, 0, 0);
  monitorLayout->setSpacing(4);
  monitorLayout->addWidget(chart(ProfileChartId::Temperature), 1);
  monitorLayout->addWidget(chart(ProfileChartId::Frequency), 1);
  pages_["monitor"] = monitor;

  info_ = new KeyValueTable(tr("Field"));
  pages_["info"] = info_;
  for (const auto& [kind, page] : pages_) stack_->addWidget(page);

  variant_ = new QComboBox;
  variant_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  variant_->setToolTip(tr("Draw one read pattern × queue depth (or one kernel) alone"));
  variantLabel_ = new QLabel(tr("Show"));
  summary_ = new QLabel;
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  summary_->setTextFormat(Qt::RichText);
  auto* top = new QHBoxLayout;
  top->addWidget(variantLabel_);
  top->addWidget(variant_);
  top->addSpacing(8);
  top->addWidget(summary_, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(top);
  layout->addWidget(stack_, 1);

  connect(variant_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, [this] { redraw(); });
  setKind({});
}

void ProfileChartSet::setKind(const std::string& kind) {
  kind_ = kind;
  const auto it = pages_.find(kind);
  stack_->setCurrentWidget(it == pages_.end() ? static_cast<QWidget*>(emptyPage_) : it->second);
  data_ = nullptr;
  {
    const QSignalBlocker block(variant_);
    variant_->clear();
  }
  variant_->hide();
  variantLabel_->hide();
  summary_->clear();
}

void ProfileChartSet::draw(const ProfileSeriesBuilder& data, const std::vector<ChartSource>& sources,
                           const QString& empty) {
  data_ = &data;
  sources_ = sources;
  empty_ = empty;
  emptyPage_->setText(empty);
  updateVariants(data);
  const std::string only = variantFilter();
  for (const ProfileChartId id : chartsOfKind(kind_)) {
    // Samples came but none had a value for this chart: the device has no such sensor (a VM, the
    // simulated phone), which is not the same as waiting.
    const QString why = data.samples() > 0 && data.pointCount(id) == 0 ? noReadings(id) : empty;
    // The variant filter is about read patterns and kernels; a monitor's zones and cores differ
    // per chart, so it draws everything.
    charts_.at(id)->draw(data, sources, why, kind_ == "monitor" ? std::string() : only);
  }
  if (kind_ == "info") updateInfo(data, sources);
  updateSummary(data, sources);
}

void ProfileChartSet::redraw() {
  if (data_) draw(*data_, sources_, empty_);
}

void ProfileChartSet::updateVariants(const ProfileSeriesBuilder& data) {
  std::vector<std::string> variants;
  if (kind_ == "flash-sweep") variants = data.variants(ProfileChartId::SweepThroughput);
  if (kind_ == "kernels") variants = data.variants(ProfileChartId::KernelTime);
  const QString current = variant_->currentData().toString();
  bool same = variant_->count() == int(variants.size()) + 1;
  for (std::size_t i = 0; same && i < variants.size(); ++i)
    same = variant_->itemData(int(i) + 1).toString() == QString::fromStdString(variants[i]);
  if (!same) {
    const QSignalBlocker block(variant_);
    variant_->clear();
    variant_->addItem(kind_ == "kernels" ? tr("all kernels") : tr("all patterns and depths"), QString());
    for (const auto& v : variants) variant_->addItem(QString::fromStdString(v), QString::fromStdString(v));
    variant_->setCurrentIndex(std::max(0, variant_->findData(current)));
  }
  variant_->setVisible(variants.size() > 1);
  variantLabel_->setVisible(variants.size() > 1);
}

std::string ProfileChartSet::variantFilter() const {
  return variant_->currentData().toString().toStdString();
}

void ProfileChartSet::updateInfo(const ProfileSeriesBuilder& data, const std::vector<ChartSource>& sources) {
  QStringList headers;
  std::vector<std::map<std::string, std::string>> columns;
  const int n = std::max<int>(1, int(sources.size()));
  for (int s = 0; s < n; ++s) {
    const auto* info = data.latest("info", s);
    if (!info) continue;
    headers << (s < int(sources.size()) && !sources[std::size_t(s)].name.isEmpty()
                    ? sources[std::size_t(s)].name
                    : tr("Value"));
    columns.push_back(recordFields(*info));
  }
  if (columns.empty())
    info_->clear(empty_);
  else
    info_->setColumns(headers, columns);
}

void ProfileChartSet::updateSummary(const ProfileSeriesBuilder& data, const std::vector<ChartSource>& sources) {
  QStringList lines;
  const int n = std::max<int>(1, int(sources.size()));
  for (int s = 0; s < n; ++s) {
    QString line;
    if (kind_ == "flash-sweep") {
      const auto mb = peak(data, ProfileChartId::SweepThroughput, s);
      const auto iops = peak(data, ProfileChartId::SweepIops, s);
      if (mb.first)
        line = tr("best %1 MB/s (%2, %3 reads) · best %4 IOPS (%5, %6 reads)")
                   .arg(num(mb.second.y), QString::fromStdString(mb.first->variant), sizeText(mb.second.x))
                   .arg(iops.first ? num(iops.second.y) : QStringLiteral("–"),
                        iops.first ? QString::fromStdString(iops.first->variant) : QString(),
                        iops.first ? sizeText(iops.second.x) : QString());
      if (const auto* result = data.latest("result", s))
        line += tr(" · %1 points, test file %2")
                    .arg(num(result->number("points")))
                    .arg(sizeText(result->number("file_bytes")));
    } else if (kind_ == "flash-replay") {
      if (const auto* r = data.latest("result", s)) {
        line = tr("p50 %1 ms · p90 %2 ms · p99 %3 ms · %4 IOPS · %5 MB/s effective")
                   .arg(num(r->number("p50_ms")), num(r->number("p90_ms")), num(r->number("p99_ms")),
                        num(r->number("iops")), num(r->number("effective_mb_s")));
        const QString engine = QString::fromStdString(r->text("engine"));
        const QString policy = QString::fromStdString(r->text("policy"));
        if (!engine.isEmpty()) line += tr(" · engine %1").arg(engine);
        if (!policy.isEmpty()) line += tr(" · cache %1").arg(policy);
      } else if (const auto* tokens = data.find(ProfileChartId::ReplayLatency, s, "per token", "latency")) {
        const auto* p50 = data.find(ProfileChartId::ReplayLatency, s, "per token", "running p50");
        const auto* p99 = data.find(ProfileChartId::ReplayLatency, s, "per token", "running p99");
        line = tr("%1 tokens so far · running p50 %2 ms · p99 %3 ms")
                   .arg(tokens->points.size())
                   .arg(num(p50 && !p50->points.empty() ? p50->points.back().y : NAN),
                        num(p99 && !p99->points.empty() ? p99->points.back().y : NAN));
      }
    } else if (kind_ == "kernels") {
      const auto gb = peak(data, ProfileChartId::KernelBandwidth, s);
      int points = 0;
      for (const auto* series : data.series(ProfileChartId::KernelTime))
        if (series->source == s) points += int(series->points.size());
      if (points)
        line = tr("%1 kernel × batch points").arg(points) +
               (gb.first ? tr(" · best %1 GB/s (%2, batch %3)")
                               .arg(num(gb.second.y), QString::fromStdString(gb.first->variant))
                               .arg(num(gb.second.x))
                         : QString());
    } else if (kind_ == "monitor") {
      const auto hot = peak(data, ProfileChartId::Temperature, s);
      int samples = 0;
      for (const auto* series : data.series(ProfileChartId::Frequency))
        if (series->source == s) samples = std::max(samples, int(series->points.size()));
      for (const auto* series : data.series(ProfileChartId::Temperature))
        if (series->source == s) samples = std::max(samples, int(series->points.size()));
      if (samples)
        line = tr("%1 samples").arg(samples) +
               (hot.first ? tr(" · hottest %1: %2 °C").arg(QString::fromStdString(hot.first->variant), num(hot.second.y))
                          : QString());
    } else if (kind_ == "info") {
      if (const auto* info = data.latest("info", s))
        line = tr("%1 · %2 cores · %3 memory")
                   .arg(QString::fromStdString(info->text("cpu.model", info->text("cpu.abi", "CPU"))))
                   .arg(num(info->number("cpu.cores")))
                   .arg(sizeText(info->number("memory.total_bytes")));
    }
    if (line.isEmpty()) continue;
    if (sources.size() > 1) line = QStringLiteral("<b>%1</b>: ").arg(sources[std::size_t(s)].name.toHtmlEscaped()) + line.toHtmlEscaped();
    else line = line.toHtmlEscaped();
    lines << line;
  }
  // What the agent is doing before its first sample (writing the test file), while it does it.
  if (sources.size() <= 1 && data.lastType() == "progress")
    if (const auto* progress = data.latest("progress", 0)) {
      const QString message = QString::fromStdString(progress->text("message"));
      if (!message.isEmpty()) lines << message.toHtmlEscaped();
    }
  if (!data.warnings().empty()) {
    QStringList warnings;
    for (const auto& w : data.warnings()) warnings << QString::fromStdString(w).toHtmlEscaped();
    lines << QStringLiteral("<span style=\"color:%1\">%2</span>")
                 .arg(seriesColor(1).name(), tr("Warning: %1").arg(warnings.join(QStringLiteral("; "))));
  }
  if (!data.errors().empty()) {
    QStringList errors;
    for (const auto& e : data.errors()) errors << QString::fromStdString(e).toHtmlEscaped();
    lines << QStringLiteral("<span style=\"color:%1\">%2</span>")
                 .arg(seriesColor(5).name(), tr("The agent reported: %1").arg(errors.join(QStringLiteral("; "))));
  }
  summary_->setText(lines.join(QStringLiteral("<br>")));
}

ProfileChartView* ProfileChartSet::chart(ProfileChartId id) const {
  const auto it = charts_.find(id);
  return it == charts_.end() ? nullptr : it->second;
}

QString ProfileChartSet::summaryText() const {
  QTextDocument doc;
  doc.setHtml(summary_->text());
  return doc.toPlainText();
}

void ProfileChartSet::applyTheme() {
  for (auto& [id, chart] : charts_) chart->applyTheme();
  redraw();
}

}  // namespace darkroom::views
