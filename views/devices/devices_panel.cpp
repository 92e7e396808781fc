#include "devices/devices_panel.h"

#include "devices/key_value_table.h"
#include "devices/task_queue.h"
#include "plot/curve_style.h"

#include <darkroom/device/session.h>

#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMetaObject>
#include <QPushButton>
#include <QRegularExpression>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace darkroom::views {

struct DevicesPanel::Phone {
  // The phone keeps a reference to its client: both live and die together, on whichever thread
  // lets go of the phone last.
  adb::Client client;
  device::SimulatedPhone phone;
  explicit Phone(const adb::ServerAddress& address) : client(address), phone(client) {}
};

namespace {

QString errorStyle() { return QStringLiteral("color: %1;").arg(seriesColor(5).name()); }

}  // namespace

DevicesPanel::DevicesPanel(QWidget* parent, adb::ServerAddress address)
    : QWidget(parent), address_value_(address), tasks_(std::make_unique<TaskQueue>()) {
  tracker_ = new DeviceTracker(address, {}, this);
  model_ = new DeviceListModel(this);

  table_ = new QTableView;
  table_->setModel(model_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->setColumnWidth(DeviceListModel::Serial, 170);
  table_->setColumnWidth(DeviceListModel::State, 90);
  table_->setColumnWidth(DeviceListModel::Model, 160);
  table_->setColumnWidth(DeviceListModel::Abi, 90);

  connect_ = new QPushButton(tr("Connect…"));
  connect_->setToolTip(tr("Connect the adb server to a phone over TCP/IP (adb connect)"));
  phoneButton_ = new QPushButton(tr("Start simulated phone"));
  phoneButton_->setToolTip(tr("darkroom-simphone: a phone simulated on this computer, reached "
                              "through the real adb server; results it gives are labelled "
                              "simulated"));
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(connect_);
  buttons->addWidget(phoneButton_);
  buttons->addStretch();

  connectRow_ = new QWidget;
  address_ = new QLineEdit;
  address_->setPlaceholderText(tr("host:port, e.g. 192.168.1.20:5555"));
  connectGo_ = new QPushButton(tr("Connect"));
  auto* cancel = new QPushButton(tr("Cancel"));
  connectError_ = new QLabel;
  connectError_->setWordWrap(true);
  connectError_->setStyleSheet(errorStyle());
  connectError_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  connectError_->hide();
  auto* connectLine = new QHBoxLayout;
  connectLine->addWidget(address_, 1);
  connectLine->addWidget(connectGo_);
  connectLine->addWidget(cancel);
  auto* connectLayout = new QVBoxLayout(connectRow_);
  connectLayout->setContentsMargins(0, 0, 0, 0);
  connectLayout->addLayout(connectLine);
  connectLayout->addWidget(connectError_);
  connectRow_->hide();

  status_ = new QLabel;
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  server_ = new QPushButton(tr("Start adb server"));
  server_->setToolTip(tr("Runs `adb -P %1 start-server`, as any adb command would").arg(address.port));
  server_->hide();
  auto* statusLine = new QHBoxLayout;
  statusLine->addWidget(status_, 1);
  statusLine->addWidget(server_, 0, Qt::AlignTop);
  message_ = new QLabel;
  message_->setWordWrap(true);
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* listBox = new QGroupBox(tr("Devices"));
  auto* listLayout = new QVBoxLayout(listBox);
  listLayout->addWidget(table_, 1);
  listLayout->addLayout(buttons);
  listLayout->addWidget(connectRow_);
  listLayout->addLayout(statusLine);
  listLayout->addWidget(message_);

  detail_ = new QLabel;
  detail_->setWordWrap(true);
  detail_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  badge_ = new QLabel(tr("SIMULATED"));
  badge_->setToolTip(tr("This device is darkroom-simphone, not a phone"));
  badge_->hide();
  properties_ = new KeyValueTable(tr("Property"));
  auto* head = new QHBoxLayout;
  head->addWidget(detail_, 1);
  head->addWidget(badge_, 0, Qt::AlignTop);
  auto* propsBox = new QGroupBox(tr("Properties of the selected device"));
  auto* propsLayout = new QVBoxLayout(propsBox);
  propsLayout->addLayout(head);
  propsLayout->addWidget(properties_, 1);

  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(listBox);
  split->addWidget(propsBox);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  split->setChildrenCollapsible(false);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(split);

  connect(tracker_, &DeviceTracker::devicesChanged, this, &DevicesPanel::setDeviceList);
  connect(tracker_, &DeviceTracker::stateChanged, this, &DevicesPanel::onTrackerState);
  connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
    showSelected();
    const QString serial = selectedSerial();
    if (!serial.isEmpty()) describe(serial.toStdString());
    emit currentDeviceChanged(serial);
  });
  // A row that changes (described, new state) may be the one whose properties are shown.
  connect(model_, &QAbstractItemModel::dataChanged, this, [this] { showSelected(); });
  connect(connect_, &QPushButton::clicked, this, [this] {
    connectRow_->show();
    address_->setFocus();
  });
  connect(cancel, &QPushButton::clicked, this, [this] {
    connectRow_->hide();
    setConnectError({});
  });
  connect(connectGo_, &QPushButton::clicked, this, [this] { connectTo(address_->text()); });
  connect(address_, &QLineEdit::returnPressed, this, [this] { connectTo(address_->text()); });
  connect(server_, &QPushButton::clicked, this, [this] {
    server_->setEnabled(false);
    tracker_->startServer();
  });
  connect(phoneButton_, &QPushButton::clicked, this, [this] {
    if (phone_)
      stopSimulatedPhone();
    else
      startSimulatedPhone();
  });

  status_->setText(tr("Not following the device list yet."));
  showSelected();
  updateButtons();
  applyTheme();
}

DevicesPanel::~DevicesPanel() {
  // Requests still queued are dropped and the running one is waited for before the widgets go.
  tasks_.reset();
  tracker_->stop();
}

void DevicesPanel::startTracking() { tracker_->start(); }

QString DevicesPanel::normalizeAddress(const QString& text, QString* error) {
  const QString t = text.trimmed();
  auto fail = [&](const QString& why) {
    if (error) *error = why;
    return QString();
  };
  if (t.isEmpty()) return fail(tr("Type the phone's address as host:port, e.g. 192.168.1.20:5555."));
  if (t.contains(QRegularExpression(QStringLiteral("\\s"))))
    return fail(tr("\"%1\" has spaces in it: type the address as host:port, e.g. 192.168.1.20:5555.").arg(t));
  QString host = t, port = QStringLiteral("5555");
  const int colon = t.lastIndexOf(':');
  // "[::1]:5555" keeps its brackets; a bare IPv6 address (two or more colons) has no port.
  if (colon >= 0 && t.count(':') == 1) {
    host = t.left(colon);
    port = t.mid(colon + 1);
  } else if (t.startsWith('[') && t.contains(QLatin1String("]:"))) {
    host = t.left(t.indexOf(QLatin1String("]:")) + 1);
    port = t.mid(t.indexOf(QLatin1String("]:")) + 2);
  }
  if (host.isEmpty()) return fail(tr("\"%1\" has no host before the ':' (e.g. 192.168.1.20:5555).").arg(t));
  bool ok = false;
  const int number = port.toInt(&ok);
  if (!ok || number < 1 || number > 65535)
    return fail(tr("\"%1\" is not a port: use a number from 1 to 65535 after the ':' (adb's "
                   "default is 5555).")
                    .arg(port));
  static const QRegularExpression hostChars(QStringLiteral("^[A-Za-z0-9._\\-\\[\\]:]+$"));
  if (!hostChars.match(host).hasMatch())
    return fail(tr("\"%1\" is not a host name or IP address.").arg(host));
  return host + ':' + QString::number(number);
}

bool DevicesPanel::connectTo(const QString& text) {
  connectRow_->show();
  if (address_->text() != text) address_->setText(text);
  QString error;
  const QString target = normalizeAddress(text, &error);
  if (target.isEmpty()) {
    setConnectError(error);
    return false;
  }
  setConnectError({});
  showMessage(tr("Connecting to %1…").arg(target), false);
  // Connecting starts a server when none runs: the list follows it at once.
  tracker_->startServer();
  connectGo_->setEnabled(false);
  const auto address = address_value_;
  tasks_->post("connect", [this, address, target] {
    QString reply, failure;
    try {
      adb::Client client(address);
      reply = QString::fromStdString(client.connect(target.toStdString())).trimmed();
      // The server answers OKAY with its own sentence; only "connected to …" means it worked.
      if (!reply.startsWith(QLatin1String("connected to")) &&
          !reply.startsWith(QLatin1String("already connected to")))
        failure = reply.isEmpty() ? tr("the adb server gave no answer") : reply;
    } catch (const std::exception& e) {
      failure = QString::fromUtf8(e.what());
    }
    QMetaObject::invokeMethod(
        this,
        [this, target, reply, failure] {
          connectGo_->setEnabled(true);
          if (failure.isEmpty()) {
            showMessage(tr("%1.").arg(reply), false);
            connectRow_->hide();
          } else {
            setConnectError(tr("Could not connect to %1: %2").arg(target, failure));
            showMessage({}, false);
          }
        },
        Qt::QueuedConnection);
  });
  return true;
}

void DevicesPanel::startSimulatedPhone() {
  if (phone_ || phone_starting_) return;
  phone_starting_ = true;
  showMessage(tr("Starting the simulated phone…"), false);
  tracker_->startServer();
  updateButtons();
  const auto address = address_value_;
  tasks_->post("phone", [this, address] {
    std::shared_ptr<Phone> phone;
    QString failure;
    try {
      phone = std::make_shared<Phone>(address);
    } catch (const std::exception& e) {
      failure = QString::fromUtf8(e.what());
    }
    QMetaObject::invokeMethod(
        this,
        [this, phone, failure] {
          phone_starting_ = false;
          if (phone) {
            phone_ = phone;
            model_->setSimulatedSerial(QString::fromStdString(phone->phone.serial()));
            showMessage(tr("Simulated phone running as %1 (its files are in %2).")
                            .arg(QString::fromStdString(phone->phone.serial()),
                                 QString::fromStdString(phone->phone.sandbox().string())),
                        false);
          } else {
            showMessage(tr("Could not start the simulated phone: %1").arg(failure), true);
          }
          updateButtons();
        },
        Qt::QueuedConnection);
  });
}

void DevicesPanel::stopSimulatedPhone() {
  if (!phone_) return;
  auto phone = std::move(phone_);
  phone_.reset();
  phone_stopping_ = true;
  const QString serial = QString::fromStdString(phone->phone.serial());
  showMessage(tr("Stopping the simulated phone %1…").arg(serial), false);
  updateButtons();
  tasks_->post({}, [this, phone, serial]() mutable {
    QString failure;
    try {
      // Pulled out as a cable would be, then forgotten by the server (the destructor).
      phone->phone.unplug();
      phone.reset();
    } catch (const std::exception& e) {
      failure = QString::fromUtf8(e.what());
    }
    QMetaObject::invokeMethod(
        this,
        [this, serial, failure] {
          phone_stopping_ = false;
          model_->setSimulatedSerial({});
          if (failure.isEmpty())
            showMessage(tr("Simulated phone %1 stopped.").arg(serial), false);
          else
            showMessage(tr("Stopping the simulated phone %1: %2").arg(serial, failure), true);
          updateButtons();
        },
        Qt::QueuedConnection);
  });
}

QString DevicesPanel::phoneSerial() const {
  return phone_ ? QString::fromStdString(phone_->phone.serial()) : QString();
}

void DevicesPanel::setDeviceList(const std::vector<adb::DeviceEntry>& devices) {
  const QString selected = selectedSerial();
  for (const auto& serial : model_->setEntries(devices)) describe(serial);
  // The first ready device is selected when nothing was, so the properties are not empty.
  if (selected.isEmpty() || model_->rowOf(selected) < 0) {
    for (int r = 0; r < model_->rowCount(); ++r)
      if (model_->summary(r).ready()) {
        selectDevice(model_->summary(r).serial);
        break;
      }
  }
  showSelected();
  emit devicesChanged(model_->summaries());
}

void DevicesPanel::onTrackerState(DeviceTracker::State state, const QString& text) {
  const bool bad = state == DeviceTracker::State::Lost || state == DeviceTracker::State::NoAdb;
  status_->setText(text);
  status_->setStyleSheet(bad ? errorStyle() : QString());
  server_->setVisible(state == DeviceTracker::State::NoServer);
  server_->setEnabled(true);
}

void DevicesPanel::describe(const std::string& serial) {
  const auto address = address_value_;
  tasks_->post("describe:" + serial, [this, address, serial] {
    try {
      adb::Client client(address);
      auto description = device::describeDevice(client, serial);
      QMetaObject::invokeMethod(
          this, [this, description] { model_->setDescription(description); }, Qt::QueuedConnection);
    } catch (const std::exception& e) {
      const QString why = QString::fromUtf8(e.what());
      QMetaObject::invokeMethod(
          this, [this, serial, why] { model_->setDescribeError(serial, why); }, Qt::QueuedConnection);
    }
  });
}

void DevicesPanel::selectDevice(const QString& serial) {
  const int r = model_->rowOf(serial);
  if (r < 0) {
    table_->clearSelection();
    return;
  }
  table_->selectRow(r);
}

QString DevicesPanel::selectedSerial() const {
  const auto rows = table_->selectionModel()->selectedRows();
  if (rows.isEmpty()) return {};
  return model_->summary(rows.first().row()).serial;
}

void DevicesPanel::showSelected() {
  const int r = model_->rowOf(selectedSerial());
  const auto* row = model_->rowAt(r);
  if (!row) {
    detail_->setText(model_->rowCount() ? tr("Select a device to see its properties.")
                                        : tr("No device. Plug in a phone with USB debugging on, "
                                             "connect one over TCP/IP, or start the simulated "
                                             "phone."));
    badge_->hide();
    properties_->clear(tr("No device selected."));
    return;
  }
  const DeviceSummary s = model_->summary(r);
  badge_->setVisible(s.simulated);
  if (row->description) {
    const auto& d = *row->description;
    detail_->setText(tr("<b>%1</b> · %2 · %3<br>%4")
                         .arg(s.model.toHtmlEscaped(), s.serial.toHtmlEscaped(),
                              s.abi.toHtmlEscaped(),
                              QString::fromStdString(d.fingerprint).toHtmlEscaped()));
    std::map<std::string, std::string> props = d.properties;
    properties_->setColumns({tr("Value")}, {props});
  } else if (!row->describe_error.isEmpty()) {
    detail_->setText(tr("<b>%1</b> (%2)").arg(s.serial.toHtmlEscaped(), s.state.toHtmlEscaped()));
    properties_->clear(tr("Could not read the properties: %1").arg(row->describe_error));
  } else if (!s.ready()) {
    detail_->setText(tr("<b>%1</b> (%2)").arg(s.serial.toHtmlEscaped(), s.state.toHtmlEscaped()));
    properties_->clear(s.state == QLatin1String("unauthorized")
                           ? tr("The phone has not allowed this computer yet: accept the USB "
                                "debugging prompt on its screen.")
                           : tr("The device is %1; its properties can be read once it is "
                                "\"device\".")
                                 .arg(s.state));
  } else {
    detail_->setText(tr("<b>%1</b>").arg(s.serial.toHtmlEscaped()));
    properties_->clear(tr("Reading the properties…"));
  }
}

void DevicesPanel::showMessage(const QString& text, bool error) {
  message_->setText(text);
  message_->setStyleSheet(error ? errorStyle() : QString());
}

void DevicesPanel::setConnectError(const QString& text) {
  connectError_->setText(text);
  connectError_->setVisible(!text.isEmpty());
}

void DevicesPanel::updateButtons() {
  phoneButton_->setText(phone_ ? tr("Stop simulated phone") : tr("Start simulated phone"));
  phoneButton_->setEnabled(!phone_starting_ && !phone_stopping_);
}

QString DevicesPanel::statusText() const { return status_->text(); }
QString DevicesPanel::messageText() const { return message_->text(); }
QString DevicesPanel::connectError() const {
  return connectError_->isHidden() ? QString() : connectError_->text();
}
QString DevicesPanel::detailText() const { return detail_->text(); }
int DevicesPanel::pendingRequests() const { return tasks_->pending(); }

void DevicesPanel::applyTheme() {
  // The badge keeps its orange in both themes; text dark enough to read on it.
  badge_->setStyleSheet(QStringLiteral("QLabel { background: %1; color: #1c1d1f; font-weight: bold; "
                                       "border-radius: 3px; padding: 2px 6px; }")
                            .arg(seriesColor(1).name()));
  if (!connectError_->text().isEmpty()) connectError_->setStyleSheet(errorStyle());
}

}  // namespace darkroom::views
