#include "finetune/finetune_plots.h"

#include <QEvent>
#include <QGridLayout>
#include <cmath>
#include <qcustomplot.h>

#include "plot/curve_style.h"
#include "plot/smoothing.h"

namespace darkroom::views {
namespace {

constexpr double kSmoothing = 0.6;  // EMA weight for the noisy per-step timings and loss

struct KeySpec {
  FinetunePlots::Chart chart;
  const char* key;
  const char* short_name;
  bool noisy;            // drawn faint and raw behind an EMA
  Qt::PenStyle style;
  bool dots;             // sparse points (eval, predictor refreshes) get markers
};

const KeySpec kKeys[] = {
    {FinetunePlots::Loss, "train/loss", "loss", true, Qt::SolidLine, false},
    {FinetunePlots::Loss, "eval/loss", "eval loss", false, Qt::DashLine, true},
    {FinetunePlots::StepTime, "train/step_time_s", "step time", true, Qt::SolidLine, false},
    {FinetunePlots::TokensPerSecond, "train/tokens_per_s", "tokens/s", true, Qt::SolidLine, false},
    {FinetunePlots::MlpSparsity, "sparsity/mlp", "MLP", false, Qt::SolidLine, false},
    {FinetunePlots::AttentionSparsity, "sparsity/attention", "attention", false, Qt::SolidLine,
     false},
    {FinetunePlots::PredictorRecall, "predictor/mlp_recall", "MLP recall", false, Qt::SolidLine,
     true},
    {FinetunePlots::PredictorRecall, "predictor/attention_recall", "attention recall", false,
     Qt::DashLine, true},
};

struct ChartSpec {
  const char* title;
  const char* y_label;
  const char* empty;  // shown while the chart has no points
  bool unit_range;    // fractions: 0..1 always
};

const ChartSpec kCharts[FinetunePlots::ChartCount] = {
    {QT_TRANSLATE_NOOP("FinetunePlots", "Loss (dashed: eval)"), "loss",
     QT_TRANSLATE_NOOP("FinetunePlots", "no steps yet"), false},
    {QT_TRANSLATE_NOOP("FinetunePlots", "Step time"), "seconds",
     QT_TRANSLATE_NOOP("FinetunePlots", "no steps yet"), false},
    {QT_TRANSLATE_NOOP("FinetunePlots", "Throughput"), "tokens/s",
     QT_TRANSLATE_NOOP("FinetunePlots", "no steps yet"), false},
    {QT_TRANSLATE_NOOP("FinetunePlots", "MLP blocks skipped"), "fraction",
     QT_TRANSLATE_NOOP("FinetunePlots", "sparse runs only"), true},
    {QT_TRANSLATE_NOOP("FinetunePlots", "Attention blocks skipped"), "fraction",
     QT_TRANSLATE_NOOP("FinetunePlots", "sparse runs only"), true},
    {QT_TRANSLATE_NOOP("FinetunePlots", "Predictor recall (dashed: attention)"), "recall",
     QT_TRANSLATE_NOOP("FinetunePlots", "sparse runs only, at each predictor refresh"), true},
};

QCPItemText* emptyText(QCustomPlot* plot) {
  for (int i = 0; i < plot->itemCount(); ++i)
    if (auto* text = qobject_cast<QCPItemText*>(plot->item(i))) return text;
  return nullptr;
}

}  // namespace

FinetunePlots::FinetunePlots(QWidget* parent) : QWidget(parent) {
  auto* grid = new QGridLayout(this);
  grid->setContentsMargins(0, 0, 0, 0);
  grid->setSpacing(4);
  for (int c = 0; c < ChartCount; ++c) {
    auto* plot = new QCustomPlot;
    plot->setMinimumSize(260, 170);
    plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot->setToolTip(tr("Drag to pan, wheel to zoom; double-click to follow the run again"));
    plot->plotLayout()->insertRow(0);
    auto* title = new QCPTextElement(plot, tr(kCharts[c].title));
    QFont bold = title->font();
    bold.setBold(true);
    title->setFont(bold);
    plot->plotLayout()->addElement(0, 0, title);
    plot->xAxis->setLabel(tr("step"));
    auto whole_steps = QSharedPointer<QCPAxisTickerFixed>::create();  // no "step 2.5"
    whole_steps->setTickStep(1);
    whole_steps->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    plot->xAxis->setTicker(whole_steps);
    plot->yAxis->setLabel(tr(kCharts[c].y_label));
    if (kCharts[c].unit_range) plot->yAxis->setRange(-0.02, 1.02);
    auto* empty = new QCPItemText(plot);
    empty->position->setType(QCPItemPosition::ptAxisRectRatio);
    empty->position->setCoords(0.5, 0.5);
    empty->setText(tr(kCharts[c].empty));
    // Recall sits near 1, loss falls from the top left: each legend where its curves are not.
    plot->axisRect()->insetLayout()->setInsetAlignment(
        0, (c == PredictorRecall ? Qt::AlignBottom : Qt::AlignTop) | Qt::AlignRight);
    QFont small = plot->legend->font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    plot->legend->setFont(small);
    plot->installEventFilter(this);
    plots_[c] = plot;
    follow_[c] = true;
    grid->addWidget(plot, c / 3, c % 3);
  }
  applyTheme();
}

void FinetunePlots::setRuns(const std::vector<ShownRun>& runs) {
  series_.clear();
  for (auto* plot : plots_) plot->clearGraphs();
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const QColor color = seriesColor(int(r));
    for (const auto& spec : kKeys) {
      QCustomPlot* plot = plots_[spec.chart];
      Series s{spec.chart, runs[r].id, spec.key};
      const QString name = runs[r].label + " · " + tr(spec.short_name);
      s.raw = plot->addGraph();
      if (spec.noisy) {
        QColor faint = color;
        faint.setAlpha(60);
        s.raw->setPen(QPen(faint, 1));
        s.raw->removeFromLegend();
        s.smooth = plot->addGraph();
        s.smooth->setPen(QPen(color, 2));
        s.smooth->setName(name);
      } else {
        s.raw->setPen(QPen(color, 1.5, spec.style));
        s.raw->setName(name);
        if (spec.dots) s.raw->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, color, 5));
      }
      series_.push_back(s);
    }
  }
  for (int c = 0; c < ChartCount; ++c) follow_[c] = true;
  update(FinetuneCurves());
}

void FinetunePlots::update(const FinetuneCurves& curves) {
  for (const auto& s : series_) {
    QVector<double> x, y;
    for (const auto& p : curves.curve(s.run, s.key)) {
      if (std::isnan(p.value) || std::isinf(p.value)) continue;
      x << double(p.step);
      y << p.value;
    }
    s.raw->setData(x, y, true);
    // The legend lists only curves with points: a dense run has no sparsity or recall.
    QCPGraph* named = s.smooth ? s.smooth : s.raw;
    if (x.isEmpty())
      named->removeFromLegend();
    else
      named->addToLegend();
    if (s.smooth) {
      auto smoothed = smoothEma(std::vector<double>(y.begin(), y.end()), kSmoothing);
      s.smooth->setData(x, QVector<double>(smoothed.begin(), smoothed.end()), true);
    }
  }
  for (int c = 0; c < ChartCount; ++c) {
    QCustomPlot* plot = plots_[c];
    bool any = false;
    for (int g = 0; g < plot->graphCount(); ++g) any = any || !plot->graph(g)->data()->isEmpty();
    if (auto* empty = emptyText(plot)) empty->setVisible(!any);
    plot->legend->setVisible((c == Loss || c == PredictorRecall) && plot->legend->itemCount() > 0);
    if (any && follow_[c]) rescale(Chart(c));
    plot->replot(QCustomPlot::rpQueuedReplot);
  }
}

void FinetunePlots::rescale(Chart chart) {
  QCustomPlot* plot = plots_[chart];
  plot->xAxis->rescale(true);
  // Air on both sides, so a point at the first or last step (the final eval) shows whole.
  QCPRange x = plot->xAxis->range();
  const double air = std::max(0.5, 0.02 * x.size());
  plot->xAxis->setRange(x.lower - air, x.upper + air);
  if (kCharts[chart].unit_range) {
    plot->yAxis->setRange(-0.02, 1.02);
    return;
  }
  plot->yAxis->rescale(true);
  // A little air above and below, so flat curves do not sit on the axes.
  QCPRange y = plot->yAxis->range();
  const double pad = std::max(0.05 * y.size(), 1e-3 * std::abs(y.center()) + 1e-9);
  plot->yAxis->setRange(y.lower - pad, y.upper + pad);
}

bool FinetunePlots::eventFilter(QObject* watched, QEvent* event) {
  for (int c = 0; c < ChartCount; ++c) {
    if (watched != plots_[c]) continue;
    if (event->type() == QEvent::MouseButtonPress || event->type() == QEvent::Wheel) {
      follow_[c] = false;
    } else if (event->type() == QEvent::MouseButtonDblClick) {
      follow_[c] = true;
      rescale(Chart(c));
      plots_[c]->replot();
    }
  }
  return QWidget::eventFilter(watched, event);
}

void FinetunePlots::applyTheme() {
  for (auto* plot : plots_) {
    applyPlotTheme(plot);
    const QColor fg = plot->xAxis->labelColor();
    if (auto* title = qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0)))
      title->setTextColor(fg);
    if (auto* empty = emptyText(plot)) {
      QColor faint = fg;
      faint.setAlpha(140);
      empty->setColor(faint);
    }
    plot->replot();
  }
}

}  // namespace darkroom::views
