#include "sparsity/sparsity_curves_plot.h"

#include "plot/curve_style.h"

#include <QApplication>
#include <QPalette>

#include <algorithm>

namespace darkroom::views {

namespace {
constexpr int kLegendColumns = 3;
}  // namespace

SparsityCurvesPlot::SparsityCurvesPlot(QWidget* parent) : QCustomPlot(parent) {
  setMinimumSize(320, 220);
  xAxis->setLabel(tr("layer"));
  yAxis->setLabel(tr("fraction inactive"));
  // Whole layers only, however many there are.
  auto layers = QSharedPointer<QCPAxisTickerFixed>::create();
  layers->setTickStep(1);
  layers->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  xAxis->setTicker(layers);
  yAxis->setRange(0, 1);

  plotLayout()->insertRow(0);
  title_ = new QCPTextElement(this, tr("MLP sparsity per layer (shaded: the shadowy gap between "
                                       "per-token and batch sparsity)"));
  plotLayout()->addElement(0, 0, title_);
  // The legend goes below the axes, where it cannot hide a curve.
  legend->setVisible(true);
  legend->setFillOrder(QCPLegend::foColumnsFirst);
  legend->setWrap(kLegendColumns);
  plotLayout()->addElement(2, 0, legend);
  plotLayout()->setRowStretchFactor(2, 0.001);
  legend->setMargins(QMargins(6, 2, 6, 2));
  applyTheme();
}

QCPGraph* SparsityCurvesPlot::addCurve(const QString& name, const QColor& color,
                                       Qt::PenStyle style) {
  QCPGraph* graph = addGraph();
  graph->setName(name);
  graph->setPen(QPen(color, 2, style));
  // Dots on the layers: a model with one layer still shows something.
  graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, color, 5));
  return graph;
}

void SparsityCurvesPlot::setAnalysis(const SparsityAnalysis& analysis) {
  clearGraphs();
  QCPGraph* perToken = addCurve(tr("per token"), seriesColor(0), Qt::SolidLine);
  QCPGraph* sequence = addCurve(tr("aggregated over a sequence"), seriesColor(1), Qt::SolidLine);
  QCPGraph* batch = addCurve(tr("aggregated over the batch"), seriesColor(2), Qt::SolidLine);
  QColor gap = seriesColor(0);
  gap.setAlpha(45);
  perToken->setBrush(gap);
  perToken->setChannelFillGraph(batch);

  const std::vector<double>& ps = analysis.options.block_p;
  std::vector<QCPGraph*> blocks;
  for (std::size_t i = 0; i < ps.size(); ++i)
    blocks.push_back(addCurve(tr("%1-neuron blocks, p = %2%")
                                  .arg(analysis.options.mlp_block)
                                  .arg(ps[i] * 100.0, 0, 'g', 3),
                              seriesColor(3 + int(i)), Qt::DashLine));

  for (const LayerSparsity& layer : analysis.layers) {
    const double x = layer.layer;
    perToken->addData(x, layer.mlp_per_token);
    sequence->addData(x, layer.mlp_aggregated_sequence);
    batch->addData(x, layer.mlp_aggregated_batch);
    for (std::size_t i = 0; i < blocks.size() && i < layer.mlp_block_sparsity.size(); ++i)
      blocks[i]->addData(x, layer.mlp_block_sparsity[i]);
  }
  double last = 0;
  for (const LayerSparsity& layer : analysis.layers) last = std::max(last, double(layer.layer));
  xAxis->setRange(-0.5, last + 0.5);
  // A little air, so curves at 0 or 1 do not sit on the frame.
  yAxis->setRange(-0.02, 1.02);
  replot();
}

void SparsityCurvesPlot::clearAnalysis() {
  clearGraphs();
  replot();
}

void SparsityCurvesPlot::applyTheme() {
  applyPlotTheme(this);
  // The zero lines would draw over the curves at layer 0 and sparsity 0.
  xAxis->grid()->setZeroLinePen(Qt::NoPen);
  yAxis->grid()->setZeroLinePen(Qt::NoPen);
  title_->setTextColor(QApplication::palette().color(QPalette::Text));
  replot();
}

}  // namespace darkroom::views
