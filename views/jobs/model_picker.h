// The model chooser of the launch forms (Fine-tune, Quantization): the built-in demo models, a
// separator, and "Browse folder…", which asks for a Hugging Face model folder and lists it by
// name (its full path as item data) above the demo models. Cancelling the dialog restores the
// previous choice.
#pragma once

#include <QComboBox>
#include <QStringList>

namespace darkroom::views {

class ModelPicker : public QComboBox {
  Q_OBJECT

 public:
  explicit ModelPicker(const QStringList& demo_models, QWidget* parent = nullptr);

  // A demo name, or a folder path (listed first when new).
  void selectModel(const QString& model);
  // The demo name, or the chosen folder's full path.
  QString model() const;
  // The current choice is a folder (which may since have disappeared), not a demo name.
  bool folderChosen() const { return currentData().isValid(); }
  // The text of the "Browse folder…" item.
  static QString browseText();

 private:
  void chooseFolder();

  int last_ = 0;  // the last real choice, restored when "Browse folder…" is cancelled
};

}  // namespace darkroom::views
