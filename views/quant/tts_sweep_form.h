// The Frontier panel's sweep form: models (built-in math models or folders), weights (float32 or
// a quantization), methods (Best-of-N, beam search), budgets N and the number of problems. It
// turns into TtsOptions and back; it runs nothing itself.
#pragma once

#include <darkroom/scaling.h>

#include <QWidget>

class QCheckBox;
class QComboBox;
class QLineEdit;
class QSpinBox;

namespace darkroom::views {

class TtsSweepForm : public QWidget {
  Q_OBJECT

 public:
  explicit TtsSweepForm(QWidget* parent = nullptr);

  // The options as entered; lists that do not parse keep their defaults (problem() names them).
  TtsOptions options() const;
  void setOptions(const TtsOptions& options);
  // What must be fixed before a launch (empty when nothing).
  QString problem() const;

  QLineEdit* modelsEdit() const { return models_; }
  QComboBox* weightsBox() const { return weights_; }
  QCheckBox* bestOfNBox() const { return bon_; }
  QCheckBox* beamBox() const { return beam_; }
  QLineEdit* budgetsEdit() const { return budgets_; }
  QSpinBox* problemsBox() const { return problems_; }
  QLineEdit* rewardEdit() const { return reward_; }

 private:
  QLineEdit* models_;
  QComboBox* weights_;
  QCheckBox* bon_;
  QCheckBox* beam_;
  QLineEdit* budgets_;
  QSpinBox* problems_;
  QLineEdit* reward_;
};

}  // namespace darkroom::views
