#include "devices/profile_form.h"

#include "quant/number_lists.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QRegularExpression>
#include <QSpinBox>
#include <QStackedWidget>
#include <QStandardItemModel>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>

namespace darkroom::views {

namespace {

QSpinBox* intBox(int low, int high, int value, const QString& suffix, const QString& tip) {
  auto* box = new QSpinBox;
  box->setRange(low, high);
  box->setValue(value);
  box->setSuffix(suffix);
  box->setToolTip(tip);
  return box;
}

QFormLayout* pageForm(QWidget* page) {
  auto* form = new QFormLayout(page);
  form->setContentsMargins(0, 0, 0, 0);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  return form;
}

QString joinInts(const std::vector<std::int64_t>& values) {
  QStringList parts;
  for (const auto v : values) parts << QString::number(v);
  return parts.join(',');
}

}  // namespace

std::vector<std::int64_t> parseSizeList(const QString& text, QString* error) {
  std::vector<std::int64_t> sizes;
  static const QRegularExpression entry(QStringLiteral("^(\\d+)\\s*([kKmM]?)(?:i?[bB])?$"));
  const auto parts = text.split(QRegularExpression(QStringLiteral("[,\\s]+")), Qt::SkipEmptyParts);
  for (QString part : parts) {
    part = part.trimmed();
    if (part.isEmpty()) continue;
    const auto m = entry.match(part);
    bool ok = m.hasMatch();
    std::int64_t bytes = ok ? m.captured(1).toLongLong(&ok) : 0;
    const QString unit = m.captured(2).toUpper();
    if (unit == QLatin1String("K")) bytes *= 1024;
    if (unit == QLatin1String("M")) bytes *= 1024 * 1024;
    // The agent reads whole 4 KiB blocks (O_DIRECT needs aligned sizes).
    if (!ok || bytes < 4096 || bytes > (std::int64_t(64) << 20) || bytes % 4096 != 0) {
      if (error)
        *error = QObject::tr("read sizes: \"%1\" is not a multiple of 4K from 4K to 64M (write "
                             "4096, 4K or 1M, separated by commas)")
                     .arg(part);
      return {};
    }
    sizes.push_back(bytes);
  }
  if (sizes.empty() && error) *error = QObject::tr("read sizes: give at least one, e.g. 4K, 64K, 1M");
  return sizes;
}

ProfileForm::ProfileForm(QWidget* parent) : QWidget(parent) {
  device_ = new QComboBox;
  device_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  device_->setMinimumContentsLength(16);
  device_->setToolTip(tr("The phone to profile: the Devices panel lists them"));
  kind_ = new QComboBox;
  kind_->addItem(tr("Flash sweep"), "flash-sweep");
  kind_->addItem(tr("Flash replay"), "flash-replay");
  kind_->addItem(tr("Kernels"), "kernels");
  kind_->addItem(tr("Monitor"), "monitor");
  kind_->addItem(tr("Device info"), "info");
  kind_->setItemData(0, tr("Read speed and latency of the phone's storage for each read size, "
                           "random and sequential, at several queue depths"), Qt::ToolTipRole);
  kind_->setItemData(1, tr("Replay an activation trace against a flash layout with the I/O "
                           "engine on the phone: latency per token"), Qt::ToolTipRole);
  kind_->setItemData(2, tr("The quantized GEMM and LUT softmax kernels per batch size on the "
                           "phone's CPU (or NPU)"), Qt::ToolTipRole);
  kind_->setItemData(3, tr("Temperatures and CPU frequencies over time"), Qt::ToolTipRole);
  kind_->setItemData(4, tr("CPU, memory, storage, Android properties and kernel back ends"),
                     Qt::ToolTipRole);
  pages_ = new QStackedWidget;
  pages_->addWidget(sweepPage());
  pages_->addWidget(replayPage());
  pages_->addWidget(kernelsPage());
  pages_->addWidget(monitorPage());
  auto* info = new QLabel(tr("One record: CPU, memory, storage, Android properties and which "
                             "kernel back ends can run."));
  info->setWordWrap(true);
  info->setObjectName("emptyState");
  pages_->addWidget(info);
  label_ = new QLineEdit;
  label_->setPlaceholderText(tr("optional, e.g. \"battery saver on\""));
  label_->setToolTip(tr("Stored with the profile and shown in comparisons (a replay without "
                        "one is labelled with its layout's file name)"));

  auto* form = new QFormLayout;
  form->setContentsMargins(0, 0, 0, 0);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form->addRow(tr("Device"), device_);
  form->addRow(tr("Profile"), kind_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(form);
  layout->addWidget(pages_);
  auto* labelForm = new QFormLayout;
  labelForm->setContentsMargins(0, 0, 0, 0);
  labelForm->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  labelForm->addRow(tr("Label"), label_);
  layout->addLayout(labelForm);

  // The stack is as tall as the page shown, not as its tallest page: the label and the buttons
  // follow the parameters directly.
  auto fitPage = [this](int index) {
    for (int i = 0; i < pages_->count(); ++i)
      pages_->widget(i)->setSizePolicy(QSizePolicy::Preferred,
                                       i == index ? QSizePolicy::Preferred : QSizePolicy::Ignored);
    pages_->setCurrentIndex(index);
    pages_->adjustSize();
  };
  connect(kind_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, [this, fitPage](int index) {
    fitPage(index);
    emit kindChanged(kind());
  });
  fitPage(0);
  connect(device_, QOverload<int>::of(&QComboBox::currentIndexChanged), this,
          [this] { emit deviceChanged(serial()); });
  setDevices({});
}

QWidget* ProfileForm::sweepPage() {
  auto* page = new QWidget;
  auto* form = pageForm(page);
  fileMb_ = intBox(1, 65536, 64, tr(" MiB"),
                   tr("Size of the test file the agent creates in its work folder; bigger than "
                      "the phone's page cache makes the reads real"));
  sizes_ = new QLineEdit(QStringLiteral("4K, 16K, 64K, 256K, 1M"));
  sizes_->setToolTip(tr("Read sizes, separated by commas: 4096, 4K or 1M"));
  random_ = new QCheckBox(tr("random"));
  random_->setChecked(true);
  sequential_ = new QCheckBox(tr("sequential"));
  sequential_->setChecked(true);
  auto* patterns = new QWidget;
  auto* patternsLayout = new QHBoxLayout(patterns);
  patternsLayout->setContentsMargins(0, 0, 0, 0);
  patternsLayout->addWidget(random_);
  patternsLayout->addWidget(sequential_);
  patternsLayout->addStretch();
  depths_ = new QLineEdit(QStringLiteral("1, 4, 32"));
  depths_->setToolTip(tr("Reads in flight at once (queue depths), separated by commas"));
  seconds_ = new QDoubleSpinBox;
  seconds_->setRange(0.05, 60);
  seconds_->setDecimals(2);
  seconds_->setSingleStep(0.25);
  seconds_->setValue(0.5);
  seconds_->setSuffix(tr(" s"));
  seconds_->setToolTip(tr("Time spent reading at each size × pattern × depth"));
  form->addRow(tr("Test file"), fileMb_);
  form->addRow(tr("Read sizes"), sizes_);
  form->addRow(tr("Patterns"), patterns);
  form->addRow(tr("Queue depths"), depths_);
  form->addRow(tr("Per point"), seconds_);
  return page;
}

QWidget* ProfileForm::replayPage() {
  auto* page = new QWidget;
  auto* form = pageForm(page);
  auto picker = [this](QLineEdit*& edit, const QString& title, const QString& filter,
                       const QString& tip) {
    edit = new QLineEdit;
    edit->setToolTip(tip);
    auto* browse = new QToolButton;
    browse->setText(QStringLiteral("…"));
    browse->setToolTip(tr("Choose the file"));
    auto* row = new QWidget;
    auto* rowLayout = new QHBoxLayout(row);
    rowLayout->setContentsMargins(0, 0, 0, 0);
    rowLayout->addWidget(edit, 1);
    rowLayout->addWidget(browse);
    QLineEdit* target = edit;
    connect(browse, &QToolButton::clicked, this, [this, target, title, filter] {
      const QString file = QFileDialog::getOpenFileName(this, title, target->text(), filter);
      if (!file.isEmpty()) target->setText(file);
    });
    return row;
  };
  form->addRow(tr("Layout"), picker(layout_, tr("Flash Layout"), tr("All files (*)"),
                                    tr("A flash layout file (the Co-activation panel or "
                                       "darkroom-cli place writes them); pushed to the phone")));
  form->addRow(tr("Trace"), picker(trace_, tr("Activation Trace"),
                                   tr("Safetensors (*.safetensors);;All files (*)"),
                                   tr("The activation trace to replay (trace.safetensors of a "
                                      "co-activation run); pushed to the phone")));
  policy_ = new QComboBox;
  for (const char* p : {"none", "lru", "s3fifo", "linked"}) policy_->addItem(p, p);
  policy_->setCurrentIndex(policy_->findData("linked"));
  policy_->setToolTip(tr("The neuron cache in front of the flash reads"));
  cache_ = new QDoubleSpinBox;
  cache_->setRange(0, 1);
  cache_->setDecimals(2);
  cache_->setSingleStep(0.05);
  cache_->setValue(0.1);
  cache_->setToolTip(tr("Share of the FFN neurons the cache holds"));
  collapse_ = new QCheckBox(tr("merge adjacent reads"));
  collapse_->setChecked(true);
  collapse_->setToolTip(tr("Access collapse: neighbouring bundles become one read"));
  replayDepth_ = intBox(1, 256, 32, {}, tr("Reads in flight at once"));
  tokens_ = intBox(0, 1000000, 0, {}, tr("Tokens to replay; 0: the whole trace"));
  tokens_->setSpecialValueText(tr("whole trace"));
  form->addRow(tr("Cache"), policy_);
  form->addRow(tr("Cache share"), cache_);
  form->addRow(QString(), collapse_);
  form->addRow(tr("Queue depth"), replayDepth_);
  form->addRow(tr("Tokens"), tokens_);
  return page;
}

QWidget* ProfileForm::kernelsPage() {
  auto* page = new QWidget;
  auto* form = pageForm(page);
  batches_ = new QLineEdit(QStringLiteral("1, 2, 4, 8, 16"));
  batches_->setToolTip(tr("Batch sizes (vectors per call), separated by commas"));
  rows_ = intBox(1, 65536, 4096, {}, tr("Rows of the weight matrix"));
  cols_ = intBox(1, 65536, 4096, {}, tr("Columns of the weight matrix"));
  backend_ = new QComboBox;
  backend_->addItem(tr("CPU (SIMD)"), "cpu");
  backend_->addItem(tr("reference (scalar)"), "reference");
  backend_->addItem(tr("NPU (vendor runtime)"), "npu");
  backend_->setToolTip(tr("A back end the phone cannot run is reported as an error, never "
                          "replaced by another"));
  kv_ = intBox(1, 1 << 20, 1024, {}, tr("Key/value length of the softmax and attention kernels"));
  minMs_ = intBox(1, 60000, 200, tr(" ms"), tr("Time spent measuring each kernel × batch point, "
                                               "after one untimed call"));
  auto* which = new QWidget;
  auto* whichLayout = new QGridLayout(which);
  whichLayout->setContentsMargins(0, 0, 0, 0);
  const std::pair<const char*, QString> kernels[] = {
      {"quant-gemm", tr("4-bit GEMM")}, {"dense-gemm", tr("float GEMM")},
      {"softmax", tr("softmax")}, {"attention", tr("attention")}};
  for (const auto& [name, text] : kernels) {
    auto* box = new QCheckBox(text);
    box->setChecked(true);
    box->setProperty("kernel", QString::fromLatin1(name));
    box->setToolTip(tr("--kernels %1: the LUT and float versions side by side").arg(name));
    whichLayout->addWidget(box, int(kernelBoxes_.size()) / 2, int(kernelBoxes_.size()) % 2);
    kernelBoxes_.push_back(box);
  }
  form->addRow(tr("Back end"), backend_);
  form->addRow(tr("Kernels"), which);
  form->addRow(tr("Batches"), batches_);
  form->addRow(tr("Rows"), rows_);
  form->addRow(tr("Columns"), cols_);
  form->addRow(tr("KV length"), kv_);
  form->addRow(tr("Per point"), minMs_);
  return page;
}

QWidget* ProfileForm::monitorPage() {
  auto* page = new QWidget;
  auto* form = pageForm(page);
  interval_ = intBox(50, 60000, 500, tr(" ms"), tr("Time between samples"));
  count_ = intBox(1, 100000, 120, {}, tr("Samples to take (Stop ends the run early; a stopped "
                                         "run is not stored)"));
  form->addRow(tr("Interval"), interval_);
  form->addRow(tr("Samples"), count_);
  return page;
}

void ProfileForm::setDevices(const std::vector<DeviceSummary>& devices) {
  const QString keep = serial();
  devices_ = devices;
  const QSignalBlocker block(device_);
  device_->clear();
  if (devices_.empty()) {
    device_->addItem(tr("no device (see the Devices panel)"), QString());
    device_->setEnabled(false);
  } else {
    device_->setEnabled(true);
    auto* items = qobject_cast<QStandardItemModel*>(device_->model());
    for (const auto& d : devices_) {
      device_->addItem(d.displayName(), d.serial);
      device_->setItemData(device_->count() - 1, d.displayName(), Qt::ToolTipRole);
      if (!d.ready() && items) items->item(device_->count() - 1)->setEnabled(false);
    }
    int index = device_->findData(keep);
    if (index < 0 || !devices_[std::size_t(index)].ready()) {
      index = 0;
      for (std::size_t i = 0; i < devices_.size(); ++i)
        if (devices_[i].ready()) {
          index = int(i);
          break;
        }
    }
    device_->setCurrentIndex(index);
  }
  if (serial() != keep) emit deviceChanged(serial());
}

void ProfileForm::selectDevice(const QString& serial) {
  const int index = device_->findData(serial);
  if (index >= 0 && devices_[std::size_t(index)].ready()) device_->setCurrentIndex(index);
}

QString ProfileForm::serial() const { return device_->currentData().toString(); }

const DeviceSummary* ProfileForm::device() const {
  const int index = device_->currentIndex();
  if (devices_.empty() || index < 0 || index >= int(devices_.size())) return nullptr;
  return &devices_[std::size_t(index)];
}

void ProfileForm::setKind(const QString& kind) {
  const int index = kind_->findData(kind);
  if (index >= 0) kind_->setCurrentIndex(index);
}

QString ProfileForm::kind() const { return kind_->currentData().toString(); }

device::ProfileRequest ProfileForm::request() const {
  device::ProfileRequest r;
  r.kind = kind().toStdString();
  r.label = label_->text().trimmed().toStdString();
  QString ignored;
  auto add = [&r](const char* flag, const QString& value) {
    r.args.push_back(flag);
    r.args.push_back(value.toStdString());
  };
  if (r.kind == "flash-sweep") {
    add("--file-mb", QString::number(fileMb_->value()));
    add("--sizes", joinInts(parseSizeList(sizes_->text(), &ignored)));
    QStringList patterns;
    if (random_->isChecked()) patterns << QStringLiteral("random");
    if (sequential_->isChecked()) patterns << QStringLiteral("sequential");
    add("--patterns", patterns.join(','));
    add("--depths", joinInts(parseIntegerList(depths_->text(), 1, 1024, {}, &ignored)));
    add("--seconds", QString::number(seconds_->value(), 'g', 6));
  } else if (r.kind == "flash-replay") {
    r.layout = layout_->text().trimmed().toStdString();
    r.trace = trace_->text().trimmed().toStdString();
    add("--policy", policy_->currentData().toString());
    add("--cache-fraction", QString::number(cache_->value(), 'g', 6));
    if (collapse_->isChecked()) r.args.push_back("--collapse");
    add("--queue-depth", QString::number(replayDepth_->value()));
    if (tokens_->value() > 0) add("--tokens", QString::number(tokens_->value()));
    if (r.label.empty()) r.label = r.layout.filename().string();
  } else if (r.kind == "kernels") {
    add("--batches", joinInts(parseIntegerList(batches_->text(), 1, 4096, {}, &ignored)));
    add("--rows", QString::number(rows_->value()));
    add("--cols", QString::number(cols_->value()));
    add("--backend", backend_->currentData().toString());
    add("--kv", QString::number(kv_->value()));
    add("--min-ms", QString::number(minMs_->value()));
    QStringList kernels;
    for (auto* box : kernelBoxes_)
      if (box->isChecked()) kernels << box->property("kernel").toString();
    // All of them is the agent's default: the command line stays short.
    if (kernels.size() < int(kernelBoxes_.size())) add("--kernels", kernels.join(','));
  } else if (r.kind == "monitor") {
    add("--interval-ms", QString::number(interval_->value()));
    add("--count", QString::number(count_->value()));
  }
  return r;
}

QString ProfileForm::problem() const {
  const DeviceSummary* d = device();
  if (!d) return tr("No device to profile: plug in a phone, connect one, or start the simulated "
                    "phone in the Devices panel.");
  if (!d->ready())
    return tr("%1 is %2: it can be profiled once adb lists it as \"device\".").arg(d->serial, d->state);
  QString error;
  const QString k = kind();
  if (k == QLatin1String("flash-sweep")) {
    const auto sizes = parseSizeList(sizes_->text(), &error);
    if (sizes.empty()) return error;
    const std::int64_t file = std::int64_t(fileMb_->value()) << 20;
    if (*std::max_element(sizes.begin(), sizes.end()) > file)
      return tr("read sizes: the largest is bigger than the %1 MiB test file; make the file larger.")
          .arg(fileMb_->value());
    if (!random_->isChecked() && !sequential_->isChecked())
      return tr("Choose a read pattern: random, sequential or both.");
    if (parseIntegerList(depths_->text(), 1, 1024, tr("queue depths"), &error).empty()) return error;
  } else if (k == QLatin1String("flash-replay")) {
    for (const auto& [edit, what] : {std::pair{layout_, tr("layout")}, std::pair{trace_, tr("trace")}}) {
      const QString path = edit->text().trimmed();
      if (path.isEmpty()) return tr("Choose the %1 file to replay.").arg(what);
      const QFileInfo info(path);
      if (!info.exists()) return tr("The %1 file %2 does not exist.").arg(what, path);
      if (!info.isFile() || !info.isReadable()) return tr("The %1 %2 is not a readable file.").arg(what, path);
    }
  } else if (k == QLatin1String("kernels")) {
    if (parseIntegerList(batches_->text(), 1, 4096, tr("batch sizes"), &error).empty()) return error;
    if (std::none_of(kernelBoxes_.begin(), kernelBoxes_.end(), [](QCheckBox* b) { return b->isChecked(); }))
      return tr("Choose at least one kernel to measure.");
  }
  return {};
}

}  // namespace darkroom::views
