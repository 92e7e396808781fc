#include "neuralink/coact_panel.h"

#include "darkroom/workspace.h"
#include "jobs/job_bridge.h"
#include "neuralink/coact_order_view.h"
#include "neuralink/zoom_neuron_model.h"
#include "plot/curve_style.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace darkroom::views {

namespace {

namespace nl = darkroom::neuralink;

constexpr const char* kRecordKind = "neuralink-record";
constexpr const char* kPlaceKind = "neuralink-place";

// What a recording job hands back: the statistics and where they and the trace were saved.
struct RecordResult {
  nl::CoactStats stats;
  std::filesystem::path coactFile, traceFile;
};

struct PlaceResult {
  int layer = 0;
  nl::PlacementMethod method = nl::PlacementMethod::Greedy;
  nl::LayerPlacement placement;
};

const nl::PlacementMethod kMethods[] = {
    nl::PlacementMethod::Greedy,    nl::PlacementMethod::GreedyAllPairs,
    nl::PlacementMethod::GreedyTopK, nl::PlacementMethod::Frequency, nl::PlacementMethod::HotCold,
    nl::PlacementMethod::ClosestFriend, nl::PlacementMethod::Identity};

QString methodName(nl::PlacementMethod method) {
  switch (method) {
    case nl::PlacementMethod::Identity: return QObject::tr("identity (checkpoint order)");
    case nl::PlacementMethod::Frequency: return QObject::tr("frequency (hottest first)");
    case nl::PlacementMethod::HotCold: return QObject::tr("hot/cold (PowerInfer-2)");
    case nl::PlacementMethod::ClosestFriend: return QObject::tr("closest friend (LLM in a flash)");
    case nl::PlacementMethod::Greedy: return QObject::tr("greedy co-activation (Neuralink)");
    case nl::PlacementMethod::GreedyAllPairs: return QObject::tr("greedy, all pairs (reference)");
    case nl::PlacementMethod::GreedyTopK: return QObject::tr("greedy, top-32 partners only");
  }
  return {};
}

}  // namespace

CoactPanel::CoactPanel(JobBridge* jobs, QWidget* parent) : QWidget(parent), jobs_(jobs) {
  open_ = new QPushButton(tr("Open…"));
  open_->setToolTip(tr("Open a co-activation file (darkroom-cli coact writes them)"));
  model_ = new QComboBox;
  model_->addItems({"demo-opt", "demo-llama"});
  model_->setToolTip(tr("The model whose FFN activations are recorded"));
  tokens_ = new QSpinBox;
  tokens_->setRange(64, 1 << 22);
  tokens_->setSingleStep(1024);
  tokens_->setValue(4096);
  tokens_->setSuffix(tr(" tokens"));
  tokens_->setToolTip(tr("Calibration tokens of the built-in corpus to record"));
  record_ = new QPushButton(tr("Record"));
  layer_ = new QComboBox;
  layer_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  method_ = new QComboBox;
  for (const auto m : kMethods) method_->addItem(methodName(m), int(m));
  place_ = new QPushButton(tr("Place"));
  place_->setToolTip(tr("Compute the chosen placement of this layer in the background"));
  loadPlacement_ = new QPushButton(tr("Load Placement…"));
  loadPlacement_->setToolTip(tr("Show a placement file's orders (darkroom-cli place writes them)"));
  pooling_ = new QComboBox;
  pooling_->addItem(tr("max"), int(Pooling::Max));
  pooling_->addItem(tr("mean"), int(Pooling::Mean));
  pooling_->setToolTip(tr("How slots are merged when a layer has more neurons than the heatmap "
                          "has cells: max keeps small hot clusters visible, mean shows density"));
  whole_ = new QPushButton(tr("Whole Layer"));
  whole_->setToolTip(tr("Undo the zoom on both sides"));
  stop_ = new QPushButton(tr("Stop"));
  progress_ = new QProgressBar;
  progress_->setRange(0, 1000);
  progress_->setTextVisible(false);
  progress_->setMaximumWidth(140);

  auto* controls = new QHBoxLayout;
  controls->addWidget(open_);
  controls->addSpacing(8);
  controls->addWidget(model_);
  controls->addWidget(tokens_);
  controls->addWidget(record_);
  controls->addSpacing(12);
  controls->addWidget(new QLabel(tr("Layer")));
  controls->addWidget(layer_);
  controls->addSpacing(12);
  controls->addWidget(new QLabel(tr("Placement")));
  controls->addWidget(method_);
  controls->addWidget(place_);
  controls->addWidget(loadPlacement_);
  controls->addSpacing(12);
  controls->addWidget(new QLabel(tr("Pooling")));
  controls->addWidget(pooling_);
  controls->addWidget(whole_);
  controls->addStretch();
  controls->addWidget(progress_);
  controls->addWidget(stop_);

  summary_ = new QLabel;
  summary_->setForegroundRole(QPalette::PlaceholderText);
  summary_->setWordWrap(true);
  message_ = new QLabel;
  message_->setWordWrap(true);

  original_ = new CoactOrderView(tr("Checkpoint order"));
  placement_ = new CoactOrderView(tr("Placement order"));
  zoomLabel_ = new QLabel;
  zoomLabel_->setWordWrap(true);
  zoomModel_ = new ZoomNeuronModel(this);
  auto* sorted = new QSortFilterProxyModel(this);
  sorted->setSourceModel(zoomModel_);
  sorted->setSortRole(Qt::UserRole);
  table_ = new QTableView;
  table_->setModel(sorted);
  table_->setSortingEnabled(true);
  table_->sortByColumn(ZoomNeuronModel::Slot, Qt::AscendingOrder);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  auto* list = new QWidget;
  auto* listLayout = new QVBoxLayout(list);
  listLayout->setContentsMargins(0, 0, 0, 0);
  listLayout->addWidget(zoomLabel_);
  listLayout->addWidget(table_, 1);
  list->setMinimumWidth(220);

  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(original_);
  split->addWidget(placement_);
  split->addWidget(list);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 3);
  split->setStretchFactor(2, 1);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addLayout(controls);
  layout->addWidget(summary_);
  layout->addWidget(message_);
  layout->addWidget(split, 1);

  connect(open_, &QPushButton::clicked, this, [this] {
    const QString file = QFileDialog::getOpenFileName(this, tr("Open Co-activation File"), {},
                                                      tr("Safetensors (*.safetensors);;All (*)"));
    if (!file.isEmpty()) openStats(file);
  });
  connect(record_, &QPushButton::clicked, this,
          [this] { record(model_->currentText(), tokens_->value()); });
  connect(layer_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { showLayer(); });
  connect(place_, &QPushButton::clicked, this, [this] {
    placeLayer(static_cast<nl::PlacementMethod>(method_->currentData().toInt()));
  });
  connect(loadPlacement_, &QPushButton::clicked, this, [this] {
    const QString file = QFileDialog::getOpenFileName(this, tr("Load Placement"), {},
                                                      tr("Safetensors (*.safetensors);;All (*)"));
    if (!file.isEmpty()) loadPlacement(file);
  });
  connect(pooling_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
    const auto p = static_cast<Pooling>(pooling_->currentData().toInt());
    original_->setPooling(p);
    placement_->setPooling(p);
  });
  connect(whole_, &QPushButton::clicked, this, &CoactPanel::resetZoom);
  connect(stop_, &QPushButton::clicked, this, [this] {
    if (job_) jobs_->cancel(job_);
  });
  connect(original_, &CoactOrderView::rangeSelected, this,
          [this](qint64 first, qint64 end) { zoom(Side::Original, {first, end}); });
  connect(placement_, &CoactOrderView::rangeSelected, this,
          [this](qint64 first, qint64 end) { zoom(Side::Placement, {first, end}); });
  if (jobs_) connect(jobs_, &JobBridge::jobEvent, this, &CoactPanel::onJobEvent);

  original_->clear(tr("Open a co-activation file, or record one: choose a model and a token "
                      "count and press Record (darkroom-cli coact does the same)."));
  placement_->clear(tr("Then choose a placement method and press Place, or load a placement "
                       "file."));
  showZoomList();
  updateButtons();
  applyTheme();
}

CoactPanel::~CoactPanel() = default;

void CoactPanel::setWorkspace(Workspace* workspace) {
  workspace_ = workspace;
  updateButtons();
}

void CoactPanel::setStats(nl::CoactStats stats, const QString& title) {
  layers_.clear();
  for (auto& layer : stats.layers)
    layers_.push_back(std::make_shared<const nl::LayerCoact>(std::move(layer)));
  placed_.assign(layers_.size(), std::nullopt);
  placedMethod_.assign(layers_.size(), nl::PlacementMethod::Identity);
  title_ = title.isEmpty() ? QString::fromStdString(stats.source) : title;
  {
    const QSignalBlocker block(layer_);
    layer_->clear();
    for (std::size_t l = 0; l < layers_.size(); ++l)
      layer_->addItem(tr("%1 (%2 neurons)").arg(l).arg(layers_[l]->neurons));
  }
  showLayer();
  updateButtons();
  emit statsChanged();
}

bool CoactPanel::openStats(const QString& path) {
  try {
    auto stats = nl::CoactStats::load(path.toStdString());
    setStats(std::move(stats), QFileInfo(path).fileName());
    showMessage(tr("Opened %1.").arg(path), false);
    return true;
  } catch (const std::exception& e) {
    showMessage(tr("Cannot open %1: %2").arg(path, QString::fromUtf8(e.what())), true);
    return false;
  }
}

std::uint64_t CoactPanel::record(const QString& model, std::int64_t tokens) {
  if (!workspace_ || !jobs_) {
    showMessage(tr("Open a workspace first (File ▸ Open Workspace)."), true);
    return 0;
  }
  const auto root = workspace_->root();
  nl::TraceRequest request;
  request.model = model.toStdString();
  request.tokens = tokens;
  jobTitle_ = tr("Record co-activations of %1 (%2 tokens)").arg(model).arg(tokens);
  job_ = jobs_->submit(kRecordKind, jobTitle_, [root, request](JobContext& ctx) -> std::any {
    auto ws = Workspace::open(root);
    // The same "coact" run as darkroom-cli coact makes: the trace (what the Placement
    // comparison replays) and the counts (what this panel reopens) are its artifacts.
    nl::CoactRunRequest run_request;
    run_request.trace = request;
    auto run = nl::recordCoactRun(ws, run_request, ctx);
    return RecordResult{std::move(run.stats), run.coact_file, run.trace_file};
  });
  progress_->setValue(0);
  showMessage(jobTitle_ + QStringLiteral("…"), false);
  updateButtons();
  return job_;
}

std::uint64_t CoactPanel::placeLayer(nl::PlacementMethod method) {
  const int l = layer();
  if (!jobs_ || l < 0) return 0;
  auto stats = layers_[std::size_t(l)];
  nl::PlacementOptions options;
  options.method = method;
  jobTitle_ = tr("Place layer %1: %2").arg(l).arg(methodName(method));
  job_ = jobs_->submit(kPlaceKind, jobTitle_, [stats, options, l](JobContext& ctx) -> std::any {
    ctx.progress(0.0, "placing");
    PlaceResult result;
    result.layer = l;
    result.method = options.method;
    result.placement = nl::placeLayer(*stats, options);
    return result;
  });
  progress_->setValue(0);
  showMessage(jobTitle_ + QStringLiteral("…"), false);
  updateButtons();
  return job_;
}

bool CoactPanel::loadPlacement(const QString& path) {
  try {
    nl::Placement p = nl::Placement::load(path.toStdString());
    if (p.layers.size() != layers_.size())
      throw nl::NeuralinkError(tr("it has %1 layers, the statistics %2")
                                   .arg(p.layers.size())
                                   .arg(layers_.size())
                                   .toStdString());
    for (std::size_t l = 0; l < layers_.size(); ++l)
      if (!isNeuronOrder(p.layers[l].order, layers_[l]->neurons))
        throw nl::NeuralinkError(
            tr("its layer %1 does not order %2 neurons").arg(l).arg(layers_[l]->neurons).toStdString());
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      placed_[l] = std::move(p.layers[l]);
      placedMethod_[l] = p.method;
    }
    showPlacement();
    showMessage(tr("Loaded placement %1.").arg(path), false);
    return true;
  } catch (const std::exception& e) {
    showMessage(tr("Cannot load placement %1: %2").arg(path, QString::fromUtf8(e.what())), true);
    return false;
  }
}

void CoactPanel::setLayerPlacement(int l, nl::PlacementMethod method, nl::LayerPlacement placement) {
  if (l < 0 || l >= layerCount()) return;
  placed_[std::size_t(l)] = std::move(placement);
  placedMethod_[std::size_t(l)] = method;
  if (l == layer()) showPlacement();
}

void CoactPanel::setLayer(int l) { layer_->setCurrentIndex(l); }

int CoactPanel::layer() const { return layers_.empty() ? -1 : layer_->currentIndex(); }

void CoactPanel::zoom(Side side, SlotRange range) {
  CoactOrderView* view = this->view(side);
  if (!view->hasOrder()) return;
  view->setRange(range);
  zoomedSide_ = side;
  showZoomList();
}

void CoactPanel::resetZoom() {
  for (CoactOrderView* view : {original_, placement_})
    if (view->hasOrder()) view->setRange({0, std::int64_t(view->order().size())});
  showZoomList();
}

void CoactPanel::setPooling(Pooling pooling) {
  pooling_->setCurrentIndex(pooling_->findData(int(pooling)));
}

void CoactPanel::setMaxSide(std::int64_t side) {
  original_->setMaxSide(side);
  placement_->setMaxSide(side);
}

CoactOrderView* CoactPanel::view(Side side) const {
  return side == Side::Original ? original_ : placement_;
}

QString CoactPanel::message() const { return message_->text(); }

QString CoactPanel::orderDetail(const std::vector<std::int32_t>& order, const QString& what) const {
  const auto& stats = *layers_[std::size_t(layer())];
  const double io = nl::expectedIo(stats, order);
  double sumP = 0;
  for (std::int64_t i = 0; i < stats.neurons; ++i) sumP += double(stats.pairCount(i, i));
  sumP /= double(std::max<std::int64_t>(stats.tokens, 1));
  // ΣP(i) is the reads a token needs when no two active neurons are neighbours.
  return tr("%1 · expected reads per token %2 (of %3 active neurons)")
      .arg(what)
      .arg(io, 0, 'f', 2)
      .arg(sumP, 0, 'f', 2);
}

void CoactPanel::showLayer() {
  const int l = layer();
  if (l < 0) return;
  const auto& stats = layers_[std::size_t(l)];
  summary_->setText(tr("%1 · layer %2 of %3 · %4 neurons · %5 tokens")
                        .arg(title_)
                        .arg(l)
                        .arg(layers_.size())
                        .arg(stats->neurons)
                        .arg(stats->tokens));
  // One colour scale for both sides: from 0 to the layer's largest P(ij), its hottest neuron.
  std::uint32_t top = 0;
  for (std::int64_t i = 0; i < stats->neurons; ++i) top = std::max(top, stats->pairCount(i, i));
  const float high = stats->tokens > 0 ? float(double(top) / double(stats->tokens)) : 1.0f;
  for (CoactOrderView* view : {original_, placement_}) view->setColorRange(0.0f, high > 0 ? high : 1.0f);
  auto identity = identityOrder(stats->neurons);
  const QString detail = orderDetail(identity, tr("neuron i at slot i"));
  original_->setOrder(stats, std::move(identity), detail);
  showPlacement();
}

void CoactPanel::showPlacement() {
  const int l = layer();
  if (l < 0) return;
  const auto& placed = placed_[std::size_t(l)];
  if (!placed) {
    placement_->clear(tr("No placement of layer %1 yet: choose a method and press Place, or load "
                         "a placement file.")
                          .arg(l));
    if (zoomedSide_ == Side::Placement) zoomedSide_ = Side::Original;
  } else {
    const QString what = tr("%1, found in %2 ms")
                             .arg(methodName(placedMethod_[std::size_t(l)]))
                             .arg(placed->seconds * 1e3, 0, 'f', 1);
    placement_->setOrder(layers_[std::size_t(l)], placed->order, orderDetail(placed->order, what));
    zoomedSide_ = Side::Placement;
  }
  showZoomList();
}

void CoactPanel::showZoomList() {
  CoactOrderView* view = this->view(zoomedSide_);
  if (!view->hasOrder()) {
    zoomModel_->clear();
    zoomLabel_->setText(tr("Drag across a block of either heatmap to zoom to it and list its "
                           "neurons here."));
    return;
  }
  const SlotRange range = view->range();
  zoomModel_->set(layers_[std::size_t(layer())], view->order(), range);
  const bool whole = range.first == 0 && range.end == std::int64_t(view->order().size());
  const QString order = zoomedSide_ == Side::Original ? tr("checkpoint order") : tr("placement order");
  zoomLabel_->setText(whole ? tr("All %1 neurons in %2. Drag across a block to zoom.")
                                  .arg(range.size())
                                  .arg(order)
                            : tr("Slots %1–%2 of the %3: %4 neurons")
                                  .arg(range.first)
                                  .arg(range.end - 1)
                                  .arg(order)
                                  .arg(range.size()));
}

void CoactPanel::onJobEvent(const JobEvent& e) {
  if (e.id != job_ || job_ == 0) return;
  if (e.state == JobState::Running) {
    progress_->setValue(int(std::lround(e.fraction * 1000)));
    return;
  }
  if (!isFinal(e.state)) return;
  job_ = 0;
  progress_->setValue(0);
  if (e.state == JobState::Succeeded && e.result.type() == typeid(RecordResult)) {
    auto result = std::any_cast<RecordResult>(e.result);
    const QString coact = QString::fromStdString(result.coactFile.string());
    const QString trace = QString::fromStdString(result.traceFile.string());
    setStats(std::move(result.stats), QString::fromStdString(result.coactFile.filename().string()));
    showMessage(tr("Recorded. Saved %1 and the trace %2 (the Placement comparison replays it).")
                    .arg(coact, trace),
                false);
    emit traceRecorded(trace);
  } else if (e.state == JobState::Succeeded && e.result.type() == typeid(PlaceResult)) {
    auto result = std::any_cast<PlaceResult>(e.result);
    setLayerPlacement(result.layer, result.method, std::move(result.placement));
    showMessage(tr("%1: done.").arg(jobTitle_), false);
  } else if (e.state == JobState::Failed) {
    showMessage(tr("%1 failed: %2").arg(jobTitle_, QString::fromStdString(e.message)), true);
  } else if (e.state != JobState::Succeeded) {
    showMessage(tr("%1: stopped.").arg(jobTitle_), false);
  }
  updateButtons();
}

void CoactPanel::showMessage(const QString& text, bool error) {
  message_->setText(text);
  message_->setStyleSheet(error ? QString("color: %1;").arg(seriesColor(5).name()) : QString());
}

void CoactPanel::updateButtons() {
  const bool idle = job_ == 0;
  const bool hasStats = !layers_.empty();
  record_->setEnabled(idle && workspace_ && jobs_);
  record_->setToolTip(workspace_ ? tr("Record the model's FFN activations on the built-in corpus "
                                      "and count co-activations, in the background")
                                 : tr("Needs a workspace (File ▸ Open Workspace)"));
  open_->setEnabled(idle);
  place_->setEnabled(idle && hasStats && jobs_);
  loadPlacement_->setEnabled(idle && hasStats);
  layer_->setEnabled(hasStats);
  whole_->setEnabled(hasStats);
  stop_->setEnabled(!idle);
}

void CoactPanel::applyTheme() {
  original_->applyTheme();
  placement_->applyTheme();
}

}  // namespace darkroom::views
