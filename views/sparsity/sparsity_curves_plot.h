// Sparsity per layer: the MLP's per-token sparsity against its sparsity aggregated over a
// sequence and over the batch — the band between per-token and batch is the "shadowy" sparsity a
// whole-sequence kernel cannot use — and the Exposer's block sparsity for each threshold p.
#pragma once

#include <darkroom/sparsity.h>

#include <qcustomplot.h>

namespace darkroom::views {

class SparsityCurvesPlot : public QCustomPlot {
  Q_OBJECT

 public:
  // Graph order: per token, aggregated over a sequence, aggregated over the batch, then one
  // block-sparsity graph per SparsityOptions::block_p.
  enum Graph { PerToken, AggregatedSequence, AggregatedBatch, FirstBlock };

  explicit SparsityCurvesPlot(QWidget* parent = nullptr);

  void setAnalysis(const SparsityAnalysis& analysis);
  void clearAnalysis();
  // Colours from the application palette (after a theme change).
  void applyTheme();

 private:
  QCPGraph* addCurve(const QString& name, const QColor& color, Qt::PenStyle style);

  QCPTextElement* title_;
};

}  // namespace darkroom::views
