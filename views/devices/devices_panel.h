// The Devices panel: the phones the adb server sees, live (plugged, unplugged, authorised), with
// each one's model, ABI and whether it is simulated; the selected device's properties in a
// filterable table; "Connect…" to a phone over TCP/IP; and a simulated phone (darkroom-simphone)
// to start and stop, for work without a phone. Every adb request runs off the UI thread: the
// list on the tracker's thread, the rest on the panel's worker (TaskQueue).
#pragma once

#include <darkroom/adb/client.h>

#include <QString>
#include <QWidget>

#include <memory>
#include <vector>

#include "devices/device_list_model.h"
#include "devices/device_tracker.h"

class QLabel;
class QLineEdit;
class QPushButton;
class QTableView;
class QWidget;

namespace darkroom::views {

class KeyValueTable;
class TaskQueue;

class DevicesPanel : public QWidget {
  Q_OBJECT

 public:
  // `address`: the adb server to follow ($ANDROID_ADB_SERVER_PORT or 5037 by default).
  explicit DevicesPanel(QWidget* parent = nullptr,
                        adb::ServerAddress address = adb::ServerAddress::fromEnvironment());
  ~DevicesPanel() override;

  // Starts following the device list. The main window calls it once this panel or the Profile
  // panel is on screen; the tracker itself starts no adb server until one was seen or asked for.
  void startTracking();
  DeviceTracker* tracker() const { return tracker_; }

  // Connects the adb server to host:port (5555 when no port is given) in the background. A
  // malformed address is refused at once with the reason in connectError(); the server's refusal
  // arrives later in the same place.
  bool connectTo(const QString& address);
  // Starts / stops darkroom-simphone (owned by this panel; stopping unplugs it, so it leaves the
  // list as a real phone would).
  void startSimulatedPhone();
  void stopSimulatedPhone();
  bool phoneRunning() const { return phone_ != nullptr; }
  QString phoneSerial() const;

  // Shows a device list as tracking delivers it (tests hand-build lists).
  void setDeviceList(const std::vector<adb::DeviceEntry>& devices);
  void selectDevice(const QString& serial);
  QString selectedSerial() const;
  std::vector<DeviceSummary> devices() const { return model_->summaries(); }

  DeviceListModel* model() const { return model_; }
  QTableView* table() const { return table_; }
  KeyValueTable* properties() const { return properties_; }
  QPushButton* connectButton() const { return connect_; }
  QPushButton* phoneButton() const { return phoneButton_; }
  QPushButton* serverButton() const { return server_; }
  QLineEdit* addressEdit() const { return address_; }
  QString statusText() const;
  QString messageText() const;
  QString connectError() const;
  QString detailText() const;
  // Requests still queued or running on the panel's worker.
  int pendingRequests() const;

  // host[:port] → "host:port" (port 5555 when absent); empty with *error saying what is wrong.
  static QString normalizeAddress(const QString& text, QString* error);

 signals:
  void devicesChanged(const std::vector<darkroom::views::DeviceSummary>& devices);
  void currentDeviceChanged(const QString& serial);

 public slots:
  void applyTheme();

 private:
  struct Phone;
  void onTrackerState(DeviceTracker::State state, const QString& status);
  void describe(const std::string& serial);
  void showSelected();
  void showMessage(const QString& text, bool error);
  void setConnectError(const QString& text);
  void updateButtons();

  adb::ServerAddress address_value_;
  DeviceTracker* tracker_;
  DeviceListModel* model_;
  std::shared_ptr<Phone> phone_;
  bool phone_starting_ = false;
  bool phone_stopping_ = false;

  QTableView* table_;
  QPushButton* connect_;
  QPushButton* phoneButton_;
  QWidget* connectRow_;
  QLineEdit* address_;
  QPushButton* connectGo_;
  QLabel* connectError_;
  QLabel* status_;
  QPushButton* server_;
  QLabel* message_;
  QLabel* detail_;
  QLabel* badge_;
  KeyValueTable* properties_;
  // Last: destroyed first, so no request runs while the members above go away.
  std::unique_ptr<TaskQueue> tasks_;
};

}  // namespace darkroom::views
