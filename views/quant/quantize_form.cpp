#include "quant/quantize_form.h"

#include "quant/number_lists.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QRegularExpression>
#include <QToolButton>

namespace darkroom::views {

QuantizeForm::QuantizeForm(QWidget* parent) : QWidget(parent) {
  model_ = new ModelPicker({"demo-math-s", "demo-math-m", "demo-opt", "demo-llama"});
  layout_ = new QComboBox;
  layout_->addItem(tr("tile (32×32, NPU matrix unit)"), "tile");
  layout_->addItem(tr("rows (groups of 32, GGUF)"), "rows");
  layout_->setToolTip(tr("tile: 32×32 tiles in the matrix unit's order, so a tile loads in one "
                         "piece. rows: llama.cpp's row-major groups, for comparison."));
  codes_ = new QComboBox;
  codes_->addItem(tr("q4_0 (linear)"), "q4_0");
  codes_->addItem(tr("iq4_nl (non-linear table)"), "iq4_nl");
  codes_->setToolTip(tr("The 4-bit type of most matrices; both are 4.5 bits/weight with one "
                        "fp16 scale per 32 weights"));
  q8_ = new QLineEdit;
  q8_->setToolTip(tr("Projections kept as Q8_0 (8.5 bits/weight), by the end of their name, "
                     "separated by commas; empty: none"));
  evalText_ = new QLineEdit;
  evalText_->setPlaceholderText(tr("optional: a UTF-8 text file"));
  evalText_->setToolTip(tr("Perplexity is measured on the built-in corpus and, when set, on "
                           "this file, for float32 and the quantized model"));
  auto* browse = new QToolButton;
  browse->setText(tr("…"));
  browse->setToolTip(tr("Choose the evaluation text file"));
  connect(browse, &QToolButton::clicked, this, [this] {
    const QString file = QFileDialog::getOpenFileName(this, tr("Evaluation Text"),
                                                      QFileInfo(evalText_->text()).path(),
                                                      tr("Text (*.txt);;All files (*)"));
    if (!file.isEmpty()) evalText_->setText(file);
  });
  auto* evalRow = new QHBoxLayout;
  evalRow->setContentsMargins(0, 0, 0, 0);
  evalRow->addWidget(evalText_, 1);
  evalRow->addWidget(browse);

  auto* form = new QFormLayout(this);
  form->setContentsMargins(0, 0, 0, 0);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form->addRow(tr("Model"), model_);
  form->addRow(tr("Layout"), layout_);
  form->addRow(tr("Codes"), codes_);
  form->addRow(tr("Q8 modules"), q8_);
  form->addRow(tr("Eval text"), evalRow);
  setOptions(QuantizeOptions{});
}

QuantizeOptions QuantizeForm::options() const {
  QuantizeOptions o;
  o.model = model_->model().toStdString();
  o.layout = layout_->currentData().toString().toStdString();
  o.codes = codes_->currentData().toString().toStdString();
  o.q8_modules.clear();
  for (const QString& name : parseNameList(q8_->text())) o.q8_modules.push_back(name.toStdString());
  o.eval_text = evalText_->text().trimmed().toStdString();
  return o;
}

void QuantizeForm::setOptions(const QuantizeOptions& o) {
  model_->selectModel(QString::fromStdString(o.model.empty() ? "demo-math-s" : o.model));
  layout_->setCurrentIndex(std::max(0, layout_->findData(QString::fromStdString(o.layout))));
  codes_->setCurrentIndex(std::max(0, codes_->findData(QString::fromStdString(o.codes))));
  QStringList q8;
  for (const auto& name : o.q8_modules) q8 << QString::fromStdString(name);
  q8_->setText(q8.join(QStringLiteral(", ")));
  evalText_->setText(QString::fromStdString(o.eval_text.string()));
}

QString QuantizeForm::problem() const {
  const QuantizeOptions o = options();
  const QString model = QString::fromStdString(o.model);
  if (model.isEmpty() || model == ModelPicker::browseText())
    return tr("Choose a model or a model folder.");
  // Anything that is not a demo name was picked as a folder: it must still be one.
  if (model_->folderChosen() && !QFileInfo(model).isDir())
    return tr("The model folder %1 does not exist.").arg(model);
  static const QRegularExpression moduleName(QStringLiteral("^[A-Za-z0-9_.]+$"));
  for (const auto& name : o.q8_modules)
    if (!moduleName.match(QString::fromStdString(name)).hasMatch())
      return tr("\"%1\" is not a module name: Q8 modules are name endings such as "
                "mlp.down_proj or fc2, separated by commas.")
          .arg(QString::fromStdString(name));
  if (!o.eval_text.empty()) {
    const QFileInfo file(QString::fromStdString(o.eval_text.string()));
    if (!file.isFile())
      return tr("The evaluation text file %1 does not exist (clear the field to use only the "
                "built-in corpus).")
          .arg(file.filePath());
    if (!file.isReadable()) return tr("The evaluation text file %1 cannot be read.").arg(file.filePath());
  }
  return {};
}

}  // namespace darkroom::views
