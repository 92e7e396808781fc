#include "finetune/finetune_form.h"

#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <QStackedWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <climits>

namespace darkroom::views {
namespace {

QSpinBox* intBox(int lo, int hi, const QString& tip) {
  auto* box = new QSpinBox;
  box->setRange(lo, hi);
  box->setToolTip(tip);
  return box;
}

QDoubleSpinBox* realBox(double lo, double hi, int decimals, double step, const QString& tip) {
  auto* box = new QDoubleSpinBox;
  box->setRange(lo, hi);
  box->setDecimals(decimals);
  box->setSingleStep(step);
  box->setToolTip(tip);
  return box;
}

// A stacked page sized by its own content, so a short page does not leave a tall gap.
void fitToCurrentPage(QStackedWidget* stack) {
  for (int i = 0; i < stack->count(); ++i)
    stack->widget(i)->setSizePolicy(QSizePolicy::Preferred, i == stack->currentIndex()
                                                                ? QSizePolicy::Preferred
                                                                : QSizePolicy::Ignored);
  stack->adjustSize();
}

QFormLayout* formLayout(QWidget* owner) {
  auto* form = new QFormLayout(owner);
  form->setContentsMargins(0, 0, 0, 0);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  return form;
}

}  // namespace

FinetuneForm::FinetuneForm(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(buildModelAndData());
  layout->addWidget(buildMethod());
  layout->addWidget(buildSparse());
  layout->addWidget(buildTraining());
  layout->addStretch();

  // A quick look in the GUI: shorter than the engine's defaults, which suit a real run.
  FinetuneOptions quick;
  quick.steps = 100;
  quick.sequence = 256;
  quick.batch = 4;
  setOptions(quick, Mode::Dense);
}

QWidget* FinetuneForm::buildModelAndData() {
  auto* box = new QGroupBox(tr("Model and data"));
  auto* form = formLayout(box);
  model_ = new ModelPicker({"demo-opt", "demo-llama"});
  form->addRow(tr("Model"), model_);

  dataset_kind_ = new QComboBox;
  dataset_kind_->addItem(tr("Built-in corpus"), int(DatasetSpec::Kind::Corpus));
  dataset_kind_->addItem(tr("Text file"), int(DatasetSpec::Kind::TextFile));
  dataset_kind_->addItem(tr("JSONL prompt/completion"), int(DatasetSpec::Kind::Jsonl));
  dataset_kind_->setToolTip(tr("Text file: plain UTF-8. JSONL: one {\"prompt\": …, "
                               "\"completion\": …} object per line; the loss is taken on the "
                               "completions only."));
  connect(dataset_kind_, QOverload<int>::of(&QComboBox::currentIndexChanged), this,
          &FinetuneForm::updateVisibility);
  form->addRow(tr("Dataset"), dataset_kind_);
  dataset_path_ = new QLineEdit;
  dataset_path_->setPlaceholderText(tr("file to train on"));
  auto* browse = new QToolButton;
  browse->setText(tr("…"));
  browse->setToolTip(tr("Choose the data file"));
  connect(browse, &QToolButton::clicked, this, &FinetuneForm::chooseDatasetFile);
  dataset_file_row_ = new QWidget;
  auto* row = new QHBoxLayout(dataset_file_row_);
  row->setContentsMargins(0, 0, 0, 0);
  row->addWidget(dataset_path_, 1);
  row->addWidget(browse);
  form->addRow(QString(), dataset_file_row_);
  return box;
}

QWidget* FinetuneForm::buildMethod() {
  auto* box = new QGroupBox(tr("PEFT method"));
  auto* layout = new QVBoxLayout(box);
  method_ = new QComboBox;
  method_->addItem(tr("LoRA"), int(PeftMethod::Lora));
  method_->addItem(tr("Adapter"), int(PeftMethod::Adapter));
  method_->addItem(tr("BitFit"), int(PeftMethod::BitFit));
  layout->addWidget(method_);
  method_pages_ = new QStackedWidget;

  auto* lora = new QWidget;
  auto* lora_form = formLayout(lora);
  rank_ = intBox(1, 1024, tr("Rank of the low-rank update B·A"));
  alpha_ = realBox(0.01, 4096, 2, 1, tr("Scale: the update is multiplied by alpha / rank"));
  dropout_ = realBox(0, 0.9, 2, 0.05, tr("Dropout on the adapter's input"));
  targets_ = new QLineEdit;
  targets_->setToolTip(tr("Linear layers to adapt, by the end of their module name, separated "
                          "by commas: q_proj, k_proj, v_proj, out_proj/o_proj, fc1, fc2, "
                          "gate_proj, up_proj, down_proj"));
  lora_form->addRow(tr("Rank"), rank_);
  lora_form->addRow(tr("Alpha"), alpha_);
  lora_form->addRow(tr("Dropout"), dropout_);
  lora_form->addRow(tr("Targets"), targets_);
  method_pages_->addWidget(lora);

  auto* adapter = new QWidget;
  bottleneck_ = intBox(1, 65536, tr("Width of the bottleneck (down, ReLU, up) after each "
                                    "attention and MLP output"));
  formLayout(adapter)->addRow(tr("Bottleneck"), bottleneck_);
  method_pages_->addWidget(adapter);

  auto* bitfit = new QLabel(tr("Trains the biases of every linear layer; no parameters."));
  bitfit->setWordWrap(true);
  bitfit->setObjectName("emptyState");
  method_pages_->addWidget(bitfit);
  layout->addWidget(method_pages_);
  connect(method_, QOverload<int>::of(&QComboBox::currentIndexChanged), this,
          &FinetuneForm::updateVisibility);
  return box;
}

QWidget* FinetuneForm::buildSparse() {
  auto* box = new QGroupBox(tr("Mode"));
  auto* layout = new QVBoxLayout(box);
  mode_ = new QComboBox;
  mode_->addItem(tr("Dense"), int(Mode::Dense));
  mode_->addItem(tr("Sparse (Long Exposure)"), int(Mode::Sparse));
  mode_->addItem(tr("Both, side by side"), int(Mode::Both));
  mode_->setToolTip(tr("Both: a dense run, then a sparse run with the same seed, overlaid in "
                       "the plots with the measured speed-up. They run one after the other, "
                       "never at once: two runs sharing the CPU would distort the speed "
                       "comparison."));
  layout->addWidget(mode_);
  connect(mode_, QOverload<int>::of(&QComboBox::currentIndexChanged), this,
          &FinetuneForm::updateVisibility);

  sparse_box_ = new QWidget;
  auto* sparse = formLayout(sparse_box_);
  policy_ = new QComboBox;
  policy_->addItem(tr("Automatic"));
  policy_->addItem(tr("Manual"));
  policy_->setToolTip(tr("Automatic: the most aggressive thresholds whose loss stays within the "
                         "tolerance of dense on the first batches"));
  sparse->addRow(tr("Thresholds"), policy_);
  policy_pages_ = new QStackedWidget;
  auto* automatic = new QWidget;
  tolerance_ = realBox(0.001, 50, 3, 0.5, tr("Relative loss increase allowed against dense"));
  tolerance_->setSuffix(" %");
  formLayout(automatic)->addRow(tr("Tolerance"), tolerance_);
  policy_pages_->addWidget(automatic);
  auto* manual = new QWidget;
  auto* manual_form = formLayout(manual);
  mlp_p_ = realBox(0.0001, 1, 4, 0.005, tr("An MLP block is skipped when more than 90% of its "
                                           "neurons are below p × the block's maximum"));
  attention_threshold_ = realBox(0, 1e6, 2, 1, tr("An attention block is kept when its mass "
                                                  "exceeds this threshold"));
  manual_form->addRow(tr("MLP p"), mlp_p_);
  manual_form->addRow(tr("Attention"), attention_threshold_);
  policy_pages_->addWidget(manual);
  sparse->addRow(policy_pages_);
  connect(policy_, QOverload<int>::of(&QComboBox::currentIndexChanged), this,
          &FinetuneForm::updateVisibility);
  layout->addWidget(sparse_box_);
  return box;
}

QWidget* FinetuneForm::buildTraining() {
  auto* box = new QGroupBox(tr("Training"));
  auto* form = formLayout(box);
  steps_ = intBox(1, 1000000, tr("Optimizer steps"));
  batch_ = intBox(1, 4096, tr("Sequences per step"));
  sequence_ = intBox(8, 1 << 16, tr("Tokens per sequence (at most the model's context)"));
  lr_ = realBox(0.00001, 1, 5, 0.0001, tr("Peak learning rate: linear warm-up, then cosine "
                                           "decay to 10%"));
  seed_ = intBox(0, INT_MAX, tr("Same seed, same data order and initialisation"));
  form->addRow(tr("Steps"), steps_);
  form->addRow(tr("Batch"), batch_);
  form->addRow(tr("Sequence"), sequence_);
  form->addRow(tr("Learning rate"), lr_);
  form->addRow(tr("Seed"), seed_);
  return box;
}

void FinetuneForm::chooseDatasetFile() {
  const bool jsonl = dataset_kind_->currentData().toInt() == int(DatasetSpec::Kind::Jsonl);
  QString file = QFileDialog::getOpenFileName(
      this, tr("Training Data"), QFileInfo(dataset_path_->text()).path(),
      jsonl ? tr("JSON lines (*.jsonl);;All files (*)") : tr("Text (*.txt);;All files (*)"));
  if (!file.isEmpty()) dataset_path_->setText(file);
}

void FinetuneForm::updateVisibility() {
  dataset_file_row_->setVisible(dataset_kind_->currentData().toInt() !=
                                int(DatasetSpec::Kind::Corpus));
  method_pages_->setCurrentIndex(method_->currentIndex());
  fitToCurrentPage(method_pages_);
  policy_pages_->setCurrentIndex(policy_->currentIndex());
  fitToCurrentPage(policy_pages_);
  sparse_box_->setVisible(mode() != Mode::Dense);
}

FinetuneForm::Mode FinetuneForm::mode() const { return Mode(mode_->currentData().toInt()); }

FinetuneOptions FinetuneForm::options() const {
  FinetuneOptions o;
  o.model = model_->model().toStdString();
  o.dataset.kind = DatasetSpec::Kind(dataset_kind_->currentData().toInt());
  if (o.dataset.kind != DatasetSpec::Kind::Corpus)
    o.dataset.path = dataset_path_->text().trimmed().toStdString();
  o.peft.method = PeftMethod(method_->currentData().toInt());
  o.peft.rank = rank_->value();
  o.peft.alpha = alpha_->value();
  o.peft.dropout = dropout_->value();
  o.peft.targets.clear();
  for (const QString& t : targets_->text().split(',', Qt::SkipEmptyParts))
    if (!t.trimmed().isEmpty()) o.peft.targets.push_back(t.trimmed().toStdString());
  o.peft.bottleneck = bottleneck_->value();
  o.mode = mode() == Mode::Sparse ? FinetuneMode::Sparse : FinetuneMode::Dense;
  o.thresholds.automatic = policy_->currentIndex() == 0;
  o.thresholds.tolerance = tolerance_->value() / 100.0;
  o.thresholds.mlp_p = mlp_p_->value();
  o.thresholds.attention_threshold = attention_threshold_->value();
  o.steps = steps_->value();
  o.batch = batch_->value();
  o.sequence = sequence_->value();
  o.lr = lr_->value();
  o.seed = std::uint64_t(seed_->value());
  return o;
}

void FinetuneForm::setOptions(const FinetuneOptions& o, Mode mode) {
  model_->selectModel(QString::fromStdString(o.model));
  dataset_kind_->setCurrentIndex(dataset_kind_->findData(int(o.dataset.kind)));
  dataset_path_->setText(QString::fromStdString(o.dataset.path.string()));
  method_->setCurrentIndex(method_->findData(int(o.peft.method)));
  rank_->setValue(o.peft.rank);
  alpha_->setValue(o.peft.alpha);
  dropout_->setValue(o.peft.dropout);
  QStringList targets;
  for (const auto& t : o.peft.targets) targets << QString::fromStdString(t);
  targets_->setText(targets.join(","));
  bottleneck_->setValue(o.peft.bottleneck);
  mode_->setCurrentIndex(mode_->findData(int(mode)));
  policy_->setCurrentIndex(o.thresholds.automatic ? 0 : 1);
  tolerance_->setValue(o.thresholds.tolerance * 100.0);
  mlp_p_->setValue(o.thresholds.mlp_p);
  attention_threshold_->setValue(o.thresholds.attention_threshold);
  steps_->setValue(o.steps);
  batch_->setValue(o.batch);
  sequence_->setValue(o.sequence);
  lr_->setValue(o.lr);
  seed_->setValue(int(std::min<std::uint64_t>(o.seed, INT_MAX)));
  updateVisibility();
}

QString FinetuneForm::problem() const {
  auto o = options();
  if (o.dataset.kind != DatasetSpec::Kind::Corpus) {
    if (o.dataset.path.empty()) return tr("Choose the dataset file (the … button next to it).");
    if (!QFileInfo(QString::fromStdString(o.dataset.path.string())).isFile())
      return tr("The dataset file %1 does not exist.")
          .arg(QString::fromStdString(o.dataset.path.string()));
  }
  if (o.peft.method == PeftMethod::Lora && o.peft.targets.empty())
    return tr("LoRA needs at least one target module, e.g. q_proj,v_proj.");
  return {};
}

}  // namespace darkroom::views
