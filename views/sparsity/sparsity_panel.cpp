#include "sparsity/sparsity_panel.h"

#include "imgui/imgui_widget.h"
#include "sparsity/attention_blocks_view.h"
#include "sparsity/heatmap_frame.h"
#include "sparsity/heatmap_widget.h"
#include "sparsity/sparsity_curves_plot.h"
#include "sparsity/sparsity_matrices.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QLabel>
#include <QPalette>
#include <QSignalBlocker>
#include <QSlider>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QSplitter>
#include <QStackedWidget>
#include <QVBoxLayout>

#include <numeric>
#include <utility>

namespace darkroom::views {

namespace {

QString percentList(const std::vector<double>& fractions) {
  QStringList parts;
  for (const double p : fractions) parts << QString::number(p * 100.0, 'g', 3);
  return parts.join("/") + "%";
}

QString summaryText(const SparsityAnalysis& a) {
  QString text = QObject::tr(
                     "%1 sequences, %2 tokens · %3 layers × %4 neurons · inactive: "
                     "|activation| ≤ %5 · blocks of %6 neurons, p = %7")
                     .arg(a.sequences)
                     .arg(a.tokens)
                     .arg(analysisLayers(a))
                     .arg(analysisNeurons(a))
                     .arg(a.options.epsilon)
                     .arg(a.options.mlp_block)
                     .arg(percentList(a.options.block_p));
  if (a.heads > 0)
    text +=
        QObject::tr(" · attention: %1 heads, %2 × %2 blocks").arg(a.heads).arg(a.attention_blocks);
  return text;
}

}  // namespace

SparsityPanel::SparsityPanel(QWidget* parent) : QWidget(parent) {
  title_ = new QLabel;
  QFont bold = title_->font();
  bold.setBold(true);
  title_->setFont(bold);
  summary_ = new QLabel;
  summary_->setForegroundRole(QPalette::PlaceholderText);  // secondary text, muted
  summary_->setWordWrap(true);

  view_ = new QComboBox;
  view_->addItem(tr("activation frequency (calibration set)"));
  view_->addItem(tr("|activation| of token t (first sequence)"));
  view_->setToolTip(
      tr("Frequency: the fraction of calibration tokens on which each neuron was "
         "active. |activation|: one token's magnitudes, to step through tokens."));
  tokenLabel_ = new QLabel(tr("Token t"));
  tokenSlider_ = new QSlider(Qt::Horizontal);
  tokenSlider_->setMinimumWidth(160);
  token_ = new QSpinBox;
  sort_ = new QCheckBox(tr("Sort neurons by frequency"));
  sort_->setToolTip(
      tr("Orders the columns by each neuron's activation frequency averaged over "
         "the layers, most active first. Neuron i of one layer is unrelated to "
         "neuron i of another, so one column order cannot sort every layer; the "
         "tooltip names each cell's own neuron."));
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Heatmap")));
  controls->addWidget(view_);
  controls->addSpacing(12);
  controls->addWidget(tokenLabel_);
  controls->addWidget(tokenSlider_);
  controls->addWidget(token_);
  controls->addSpacing(12);
  controls->addWidget(sort_);
  controls->addStretch();

  QWidget* heatmapArea;
  if (ImGuiWidget::platformSupported()) {
    heatmap_ = new HeatmapWidget;
    heatmapArea = heatmap_;
  } else {
    heatmapArea = emptyStateLabel(tr("The neuron heatmap draws with OpenGL, which the \"%1\" Qt "
                                     "platform does not provide. The curves and attention maps "
                                     "work without it.")
                                      .arg(QGuiApplication::platformName()));
  }
  auto* top = new QWidget;
  auto* topLayout = new QVBoxLayout(top);
  topLayout->setContentsMargins(0, 0, 0, 0);
  topLayout->addLayout(controls);
  topLayout->addWidget(heatmapArea, 1);

  curves_ = new SparsityCurvesPlot;
  attention_ = new AttentionBlocksView;
  auto* bottom = new QSplitter(Qt::Horizontal);
  bottom->addWidget(curves_);
  bottom->addWidget(attention_);
  bottom->setStretchFactor(0, 1);
  bottom->setStretchFactor(1, 1);
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(top);
  split->addWidget(bottom);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 1);

  auto* content = new QWidget;
  auto* contentLayout = new QVBoxLayout(content);
  contentLayout->setContentsMargins(0, 0, 0, 0);
  contentLayout->addWidget(title_);
  contentLayout->addWidget(summary_);
  contentLayout->addWidget(split, 1);

  empty_ =
      new QLabel(tr("No sparsity analysis yet.\n\nAnalyze a model to see how many MLP "
                    "neurons and attention blocks each token uses, and how many the whole "
                    "sequence and batch use together.\nUse the Analyze action, or on a "
                    "terminal:\ndarkroom-cli analyze --model demo-opt"));
  empty_->setObjectName("emptyState");
  empty_->setAlignment(Qt::AlignCenter);
  empty_->setWordWrap(true);
  stack_ = new QStackedWidget;
  stack_->addWidget(empty_);
  stack_->addWidget(content);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(stack_);

  connect(view_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    updateTokenControls();
    updateHeatmap();
  });
  connect(tokenSlider_, &QSlider::valueChanged, token_, &QSpinBox::setValue);
  connect(token_, qOverload<int>(&QSpinBox::valueChanged), this, [this](int t) {
    const QSignalBlocker block(tokenSlider_);
    tokenSlider_->setValue(t);
    updateHeatmap();
  });
  connect(sort_, &QCheckBox::toggled, this, [this] { updateHeatmap(); });
  clearAnalysis();
  applyTheme();
}

void SparsityPanel::setAnalysis(const SparsityAnalysis& analysis, const QString& title) {
  setAnalysis(SparsityAnalysis(analysis), title);
}

void SparsityPanel::setAnalysis(SparsityAnalysis&& analysis, const QString& title) {
  analysis_ = std::make_unique<SparsityAnalysis>(std::move(analysis));
  showAnalysis(title);
}

void SparsityPanel::clearAnalysis() {
  attention_->setAnalysis(nullptr);
  analysis_.reset();
  frequencyOrder_.clear();
  heatmapMatrix_ = {};
  heatmapOrder_.clear();
  if (heatmap_) heatmap_->setMatrix({});
  curves_->clearAnalysis();
  stack_->setCurrentWidget(empty_);
}

void SparsityPanel::showAnalysis(const QString& title) {
  const SparsityAnalysis& a = *analysis_;
  frequencyOrder_ = neuronsByMeanFrequency(a);
  largestMagnitude_ = largestTokenMagnitude(a);
  title_->setText(title);
  summary_->setText(summaryText(a));
  curves_->setAnalysis(a);
  attention_->setAnalysis(analysis_.get());
  updateTokenControls();
  updateHeatmap();
  if (heatmap_) heatmap_->fitView();
  stack_->setCurrentIndex(1);
}

AttentionMapPlot* SparsityPanel::attentionHeadPlot() const { return attention_->headPlot(); }

AttentionMapPlot* SparsityPanel::attentionSharedPlot() const { return attention_->sharedPlot(); }

void SparsityPanel::setHeatmapView(HeatmapView view) {
  view_->setCurrentIndex(view == HeatmapView::Frequency ? 0 : 1);
}

SparsityPanel::HeatmapView SparsityPanel::heatmapView() const {
  return view_->currentIndex() == 1 ? HeatmapView::TokenMagnitude : HeatmapView::Frequency;
}

void SparsityPanel::setToken(int token) { token_->setValue(token); }

void SparsityPanel::setSortByFrequency(bool on) { sort_->setChecked(on); }

void SparsityPanel::updateTokenControls() {
  const bool tokens = analysis_ && hasTokenMagnitudes(*analysis_);
  // The per-token view needs per-token data; without it only frequencies can be shown.
  const QSignalBlocker blockView(view_);
  if (!tokens) view_->setCurrentIndex(0);
  if (auto* items = qobject_cast<QStandardItemModel*>(view_->model()))
    items->item(1)->setEnabled(tokens);
  const int last = tokens ? int(analysis_->sample_tokens) - 1 : 0;
  {
    const QSignalBlocker blockSlider(tokenSlider_), blockSpin(token_);
    tokenSlider_->setRange(0, last);
    token_->setRange(0, last);
  }
  const bool perToken = tokens && heatmapView() == HeatmapView::TokenMagnitude;
  tokenLabel_->setEnabled(perToken);
  tokenSlider_->setEnabled(perToken);
  token_->setEnabled(perToken);
}

void SparsityPanel::updateHeatmap() {
  if (!analysis_) return;
  const bool perToken = heatmapView() == HeatmapView::TokenMagnitude;
  heatmapMatrix_ =
      perToken ? tokenMagnitude(*analysis_, token_->value()) : analysis_->neuron_frequency;
  if (sort_->isChecked() && std::int64_t(frequencyOrder_.size()) == heatmapMatrix_.cols) {
    heatmapOrder_ = frequencyOrder_;
  } else {
    heatmapOrder_.resize(std::size_t(heatmapMatrix_.cols));
    std::iota(heatmapOrder_.begin(), heatmapOrder_.end(), 0);
  }
  if (!heatmap_) return;
  heatmap_->setMatrix(heatmapMatrix_, tr("layer"), tr("neuron"));
  heatmap_->setColumnOrder(heatmapOrder_);
  // Frequencies are fractions; magnitudes share one scale over all tokens so they compare.
  heatmap_->setColorRange(0.0f, perToken ? largestMagnitude_ : 1.0f);
}

void SparsityPanel::applyTheme() {
  curves_->applyTheme();
  attention_->applyTheme();
  if (!heatmap_) return;
  const QPalette palette = QApplication::palette();
  heatmap_->setDarkStyle(palette.color(QPalette::Window).lightness() < 128);
  heatmap_->setBackground(palette.color(QPalette::Window));
}

}  // namespace darkroom::views
