// The Profile panel's launcher form: the device, the kind of profile (the agent's subcommands,
// docs/agent-protocol.md) and that kind's main parameters with defaults that suit a phone, and a
// free-text label stored with the profile. It turns into a device::ProfileRequest; it runs
// nothing itself.
#pragma once

#include <darkroom/device/session.h>

#include <QString>
#include <QWidget>

#include <vector>

#include "devices/device_list_model.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;
class QStackedWidget;

namespace darkroom::views {

class ProfileForm : public QWidget {
  Q_OBJECT

 public:
  explicit ProfileForm(QWidget* parent = nullptr);

  // The devices to choose from (not-ready ones are listed but cannot be chosen); the chosen one
  // stays chosen while it is listed.
  void setDevices(const std::vector<DeviceSummary>& devices);
  void selectDevice(const QString& serial);
  QString serial() const;
  const DeviceSummary* device() const;

  void setKind(const QString& kind);
  QString kind() const;
  // The request as entered (problem() says what must be fixed first).
  device::ProfileRequest request() const;
  QString problem() const;

  QComboBox* deviceBox() const { return device_; }
  QComboBox* kindBox() const { return kind_; }
  QLineEdit* labelEdit() const { return label_; }
  // flash-sweep
  QSpinBox* fileMbBox() const { return fileMb_; }
  QLineEdit* sizesEdit() const { return sizes_; }
  QCheckBox* randomBox() const { return random_; }
  QCheckBox* sequentialBox() const { return sequential_; }
  QLineEdit* depthsEdit() const { return depths_; }
  QDoubleSpinBox* secondsBox() const { return seconds_; }
  // flash-replay
  QLineEdit* layoutEdit() const { return layout_; }
  QLineEdit* traceEdit() const { return trace_; }
  QComboBox* policyBox() const { return policy_; }
  QDoubleSpinBox* cacheBox() const { return cache_; }
  QCheckBox* collapseBox() const { return collapse_; }
  QSpinBox* replayDepthBox() const { return replayDepth_; }
  QSpinBox* tokensBox() const { return tokens_; }
  // kernels
  QLineEdit* batchesEdit() const { return batches_; }
  QSpinBox* rowsBox() const { return rows_; }
  QSpinBox* colsBox() const { return cols_; }
  QComboBox* backendBox() const { return backend_; }
  QSpinBox* kvBox() const { return kv_; }
  QSpinBox* minMsBox() const { return minMs_; }
  // quant-gemm, dense-gemm, softmax, attention (property "kernel" holds the agent's name).
  const std::vector<QCheckBox*>& kernelBoxes() const { return kernelBoxes_; }
  // monitor
  QSpinBox* intervalBox() const { return interval_; }
  QSpinBox* countBox() const { return count_; }

 signals:
  void kindChanged(const QString& kind);
  void deviceChanged(const QString& serial);

 private:
  QWidget* sweepPage();
  QWidget* replayPage();
  QWidget* kernelsPage();
  QWidget* monitorPage();

  std::vector<DeviceSummary> devices_;
  QComboBox* device_;
  QComboBox* kind_;
  QStackedWidget* pages_;
  QLineEdit* label_;
  QSpinBox* fileMb_;
  QLineEdit* sizes_;
  QCheckBox* random_;
  QCheckBox* sequential_;
  QLineEdit* depths_;
  QDoubleSpinBox* seconds_;
  QLineEdit* layout_;
  QLineEdit* trace_;
  QComboBox* policy_;
  QDoubleSpinBox* cache_;
  QCheckBox* collapse_;
  QSpinBox* replayDepth_;
  QSpinBox* tokens_;
  QLineEdit* batches_;
  QSpinBox* rows_;
  QSpinBox* cols_;
  QComboBox* backend_;
  QSpinBox* kv_;
  QSpinBox* minMs_;
  std::vector<QCheckBox*> kernelBoxes_;
  QSpinBox* interval_;
  QSpinBox* count_;
};

// "4K, 64K, 1M" or "4096 65536" → bytes; each a multiple of 4 KiB up to 64 MiB. {} with
// *error on a bad entry.
std::vector<std::int64_t> parseSizeList(const QString& text, QString* error);

}  // namespace darkroom::views
