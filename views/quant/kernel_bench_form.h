// The Kernels panel's launcher form: back end, weight shapes, batch sizes, KV lengths and the
// time spent on each point. It turns into KernelBenchOptions and back; it runs nothing itself.
#pragma once

#include <darkroom/quant.h>

#include <QWidget>

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;

namespace darkroom::views {

class KernelBenchForm : public QWidget {
  Q_OBJECT

 public:
  explicit KernelBenchForm(QWidget* parent = nullptr);

  // The options as entered; fields that do not parse are left at their defaults (problem()
  // names them).
  KernelBenchOptions options() const;
  void setOptions(const KernelBenchOptions& options);
  // What must be fixed before a launch (empty when nothing).
  QString problem() const;

  QComboBox* backendBox() const { return backend_; }
  QLineEdit* shapesEdit() const { return shapes_; }
  QLineEdit* batchesEdit() const { return batches_; }
  QLineEdit* kvEdit() const { return kv_; }
  QDoubleSpinBox* secondsBox() const { return seconds_; }

 private:
  QComboBox* backend_;
  QLineEdit* shapes_;
  QLineEdit* batches_;
  QLineEdit* kv_;
  QDoubleSpinBox* seconds_;
};

}  // namespace darkroom::views
