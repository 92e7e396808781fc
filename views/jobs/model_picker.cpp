#include "jobs/model_picker.h"

#include <QFileDialog>
#include <QFileInfo>

namespace darkroom::views {

ModelPicker::ModelPicker(const QStringList& demo_models, QWidget* parent) : QComboBox(parent) {
  addItems(demo_models);
  insertSeparator(count());
  addItem(browseText());
  setToolTip(tr("A built-in demo model (trained in this workspace on first use) or a "
                "Hugging Face model folder (config.json, safetensors, tokenizer)"));
  connect(this, QOverload<int>::of(&QComboBox::activated), this, [this](int index) {
    if (itemText(index) == browseText())
      chooseFolder();
    else
      last_ = index;
  });
}

QString ModelPicker::browseText() { return tr("Browse folder…"); }

void ModelPicker::selectModel(const QString& model) {
  // Demo names are items of their own; a folder is listed by its name, the full path as data.
  int index = findData(model);
  if (index < 0) index = findText(model);
  if (index < 0 || itemText(index) == browseText()) {
    index = 0;  // folders go first, above the demo models
    insertItem(index, QFileInfo(model).fileName(), model);
    setItemData(index, model, Qt::ToolTipRole);
  }
  setCurrentIndex(index);
  last_ = index;
}

QString ModelPicker::model() const {
  const QString folder = currentData().toString();
  return folder.isEmpty() ? currentText() : folder;
}

void ModelPicker::chooseFolder() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Hugging Face Model Folder"));
  if (dir.isEmpty()) {
    setCurrentIndex(last_);
    return;
  }
  selectModel(dir);
}

}  // namespace darkroom::views
