// The Fine-tune panel's launcher form: model, data set, PEFT method (only the chosen method's
// parameters are shown), dense / sparse / both, the sparse thresholds and the training
// settings. It turns into FinetuneOptions and back; it runs nothing itself.
#pragma once

#include <QWidget>

#include "darkroom/finetune.h"
#include "jobs/model_picker.h"

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;
class QStackedWidget;
class QWidget;

namespace darkroom::views {

class FinetuneForm : public QWidget {
  Q_OBJECT

 public:
  // Both: a dense run, then a sparse run with the same seed, for a side-by-side comparison.
  enum class Mode { Dense, Sparse, Both };

  explicit FinetuneForm(QWidget* parent = nullptr);

  // The options as entered; in Both mode their mode is Dense (the panel makes the sparse copy).
  FinetuneOptions options() const;
  Mode mode() const;
  void setOptions(const FinetuneOptions& options, Mode mode);
  // What must be fixed before a launch (empty when nothing): checks the form can make alone.
  QString problem() const;

  QComboBox* modelBox() const { return model_; }
  QComboBox* methodBox() const { return method_; }
  QComboBox* modeBox() const { return mode_; }

 private:
  QWidget* buildModelAndData();
  QWidget* buildMethod();
  QWidget* buildSparse();
  QWidget* buildTraining();
  void chooseDatasetFile();
  void updateVisibility();

  ModelPicker* model_;
  QComboBox* dataset_kind_;
  QWidget* dataset_file_row_;
  QLineEdit* dataset_path_;
  QComboBox* method_;
  QStackedWidget* method_pages_;
  QSpinBox* rank_;
  QDoubleSpinBox* alpha_;
  QDoubleSpinBox* dropout_;
  QLineEdit* targets_;
  QSpinBox* bottleneck_;
  QComboBox* mode_;
  QWidget* sparse_box_;
  QComboBox* policy_;
  QStackedWidget* policy_pages_;
  QDoubleSpinBox* tolerance_;
  QDoubleSpinBox* mlp_p_;
  QDoubleSpinBox* attention_threshold_;
  QSpinBox* steps_;
  QSpinBox* batch_;
  QSpinBox* sequence_;
  QDoubleSpinBox* lr_;
  QSpinBox* seed_;
};

}  // namespace darkroom::views
