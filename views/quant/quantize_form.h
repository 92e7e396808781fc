// The Quantization panel's launcher form: model (the demo models, the math models or a folder),
// layout (tile | rows), the 4-bit codes (q4_0 | iq4_nl), the projections kept as Q8_0, and an
// optional text file whose perplexity is measured next to the built-in corpus. It turns into
// QuantizeOptions and back; it runs nothing itself.
#pragma once

#include <darkroom/quant.h>

#include <QWidget>

#include "jobs/model_picker.h"

class QComboBox;
class QLineEdit;

namespace darkroom::views {

class QuantizeForm : public QWidget {
  Q_OBJECT

 public:
  explicit QuantizeForm(QWidget* parent = nullptr);

  QuantizeOptions options() const;
  void setOptions(const QuantizeOptions& options);
  // What must be fixed before a launch (empty when nothing).
  QString problem() const;

  QComboBox* modelBox() const { return model_; }
  QComboBox* layoutBox() const { return layout_; }
  QComboBox* codesBox() const { return codes_; }
  QLineEdit* q8Edit() const { return q8_; }
  QLineEdit* evalTextEdit() const { return evalText_; }

 private:
  ModelPicker* model_;
  QComboBox* layout_;
  QComboBox* codes_;
  QLineEdit* q8_;
  QLineEdit* evalText_;
};

}  // namespace darkroom::views
