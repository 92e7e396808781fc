#include "quant/kernel_bench_form.h"

#include "quant/number_lists.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLineEdit>

namespace darkroom::views {

KernelBenchForm::KernelBenchForm(QWidget* parent) : QWidget(parent) {
  backend_ = new QComboBox;
  backend_->addItem(tr("CPU (SIMD)"), "cpu");
  backend_->addItem(tr("reference (scalar)"), "reference");
  backend_->addItem(tr("CUDA"), "cuda");
  backend_->setToolTip(tr("The kernels' back end; CUDA needs a build with nvcc and a GPU"));
  shapes_ = new QLineEdit;
  shapes_->setToolTip(tr("Weight matrices W as rows x columns, separated by commas; a 7B "
                         "model's attention and MLP shapes by default"));
  batches_ = new QLineEdit;
  batches_->setToolTip(tr("Batch sizes (vectors multiplied at once), separated by commas: "
                          "decoding N candidates together"));
  kv_ = new QLineEdit;
  kv_->setToolTip(tr("Key/value lengths of the decode attention (32 heads × 128 dims), "
                     "separated by commas"));
  seconds_ = new QDoubleSpinBox;
  seconds_->setRange(0.001, 60);
  seconds_->setDecimals(3);
  seconds_->setSingleStep(0.1);
  seconds_->setSuffix(tr(" s"));
  seconds_->setToolTip(tr("Time spent measuring each point, after one warm-up call"));
  auto* form = new QFormLayout(this);
  form->setContentsMargins(0, 0, 0, 0);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form->addRow(tr("Back end"), backend_);
  form->addRow(tr("Shapes"), shapes_);
  form->addRow(tr("Batches"), batches_);
  form->addRow(tr("KV lengths"), kv_);
  form->addRow(tr("Per point"), seconds_);
  setOptions(KernelBenchOptions{});
}

KernelBenchOptions KernelBenchForm::options() const {
  KernelBenchOptions o;
  o.backend = backend_->currentData().toString().toStdString();
  QString error;
  if (auto shapes = parseShapeList(shapes_->text(), &error); !shapes.empty()) o.shapes = shapes;
  if (auto batches = parseIntegerList(batches_->text(), 1, 4096, {}, &error); !batches.empty())
    o.batches.assign(batches.begin(), batches.end());
  if (auto kv = parseIntegerList(kv_->text(), 1, std::int64_t(1) << 24, {}, &error); !kv.empty())
    o.kv_lengths = kv;
  o.seconds_per_point = seconds_->value();
  return o;
}

void KernelBenchForm::setOptions(const KernelBenchOptions& o) {
  backend_->setCurrentIndex(std::max(0, backend_->findData(QString::fromStdString(o.backend))));
  shapes_->setText(joinShapes(o.shapes));
  batches_->setText(joinIntegers({o.batches.begin(), o.batches.end()}));
  kv_->setText(joinIntegers(o.kv_lengths));
  seconds_->setValue(o.seconds_per_point);
}

QString KernelBenchForm::problem() const {
  QString error;
  if (parseShapeList(shapes_->text(), &error).empty()) return error;
  if (parseIntegerList(batches_->text(), 1, 4096, tr("batch sizes"), &error).empty()) return error;
  if (parseIntegerList(kv_->text(), 1, std::int64_t(1) << 24, tr("KV lengths"), &error).empty())
    return error;
  return {};
}

}  // namespace darkroom::views
