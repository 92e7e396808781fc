// The Devices panel's table: one row per device the adb server lists (serial, state, model, ABI,
// kind). Rows follow the tracked list in place — a device that comes, goes or changes state
// updates its own row, so the selection survives — and fill in model and ABI once the device is
// described (getprop, off the UI thread). The simulated phone is labelled "simulated" from the
// moment it appears.
#pragma once

#include <darkroom/adb/protocol.h>
#include <darkroom/device/session.h>

#include <QAbstractTableModel>
#include <QString>

#include <optional>
#include <vector>

namespace darkroom::views {

// What the Profile panel needs to know of a device.
struct DeviceSummary {
  QString serial;
  QString state;  // "device", "offline", "unauthorized", …
  QString model;
  QString abi;
  bool simulated = false;
  bool ready() const { return state == QLatin1String("device"); }
  // "Pixel 8 (R5CT…) · arm64-v8a · simulated"
  QString displayName() const;
};

class DeviceListModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { Serial, State, Model, Abi, Kind, Columns };

  struct Row {
    adb::DeviceEntry entry;
    std::optional<device::DeviceDescription> description;
    QString describe_error;
    bool describing = false;
  };

  explicit DeviceListModel(QObject* parent = nullptr);

  // Follows a new list from the server. Returns the serials that are ready ("device") and not
  // described yet (or changed since), marking them as being described.
  std::vector<std::string> setEntries(const std::vector<adb::DeviceEntry>& entries);
  void setDescription(const device::DeviceDescription& description);
  void setDescribeError(const std::string& serial, const QString& error);
  // The simulated phone this program started: labelled simulated before it is described.
  void setSimulatedSerial(const QString& serial);

  int rowOf(const QString& serial) const;
  const Row* rowAt(int row) const;
  DeviceSummary summary(int row) const;
  std::vector<DeviceSummary> summaries() const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  bool simulated(const Row& row) const;
  void rowChanged(int row);

  std::vector<Row> rows_;
  QString simulated_serial_;
};

}  // namespace darkroom::views
