// The Kernels panel's charts of a KernelBenchReport. GemvChart: time per call (or weight bytes
// read per second) against the batch size for every GEMV kernel on one weight shape, with the
// machine's copy bandwidth for reference — the "free compute" curve: while the kernel is bound
// by reading the weights, a bigger batch costs (almost) nothing more. The softmax bars (LUT vs
// float per KV length) reuse the Placement comparison's grouped bar chart.
#pragma once

#include <darkroom/quant.h>

#include <qcustomplot.h>

#include <QString>
#include <QStringList>

#include <utility>
#include <vector>

namespace darkroom::views {

enum class GemvMetric { TimePerCall, WeightBandwidth };

// The GEMV kernels in legend order; names a report has beyond these follow them.
const QStringList& knownGemvKernels();
// The weight shapes of a report's GEMV points, in the order they first appear.
std::vector<std::pair<std::int64_t, std::int64_t>> gemvShapes(const KernelBenchReport& report);
// Time per call at copy bandwidth for the 4.5-bit packed weights of rows × cols: the floor a
// memory-bound 4-bit GEMV cannot beat. Seconds; 0 without a copy bandwidth.
double fourBitReadSeconds(const KernelBenchReport& report, std::int64_t rows, std::int64_t cols);

// The softmax comparison as grouped bars: categories are KV lengths, series the kernels.
struct SoftmaxBars {
  QStringList categories, series;
  std::vector<std::vector<double>> values;  // [series][category], NaN where not measured
  QString unit;                             // "µs" or "ms", whichever reads better
  double scale = 1e6;                       // seconds × scale = the values
};
SoftmaxBars softmaxBars(const KernelBenchReport& report);
// "max |error| of the probabilities: lut 2.1e-04 · float 3.0e-08"
QString softmaxErrorText(const KernelBenchReport& report);

class GemvChart : public QCustomPlot {
  Q_OBJECT

 public:
  explicit GemvChart(QWidget* parent = nullptr);

  // Draws the report's points of one shape: one graph per kernel, x the batch size (log
  // scale), plus the copy line. Nothing to draw clears the chart with `why` as its title.
  void setReport(const KernelBenchReport& report, std::pair<std::int64_t, std::int64_t> shape,
                 GemvMetric metric);
  void clearChart(const QString& why);
  void applyTheme();

  // The graph of one kernel (nullptr when the shape has no point of it), how many kernels are
  // drawn, and the reference line: copy bandwidth (WeightBandwidth) or the 4-bit read floor
  // (TimePerCall); nullptr without a copy measurement.
  QCPGraph* kernelGraph(const QString& kernel) const;
  int kernelGraphCount() const { return int(kernels_.size()); }
  QCPGraph* referenceGraph() const { return reference_; }
  QString title() const { return title_->text(); }

 private:
  QCPTextElement* title_;
  std::vector<std::pair<QString, QCPGraph*>> kernels_;
  QCPGraph* reference_ = nullptr;
};

}  // namespace darkroom::views
