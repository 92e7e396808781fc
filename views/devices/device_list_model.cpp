#include "devices/device_list_model.h"

#include "plot/curve_style.h"

#include <QFont>

#include <algorithm>

namespace darkroom::views {

namespace {

QString attribute(const adb::DeviceEntry& e, const char* key) {
  const auto it = e.attributes.find(key);
  return it == e.attributes.end() ? QString() : QString::fromStdString(it->second);
}

// adb lists a device's model with '_' for spaces ("Pixel_8"); getprop has the real name.
QString listedModel(const adb::DeviceEntry& e) { return attribute(e, "model").replace('_', ' '); }

}  // namespace

QString DeviceSummary::displayName() const {
  QString name = model.isEmpty() ? serial : QStringLiteral("%1 (%2)").arg(model, serial);
  if (!abi.isEmpty()) name += QStringLiteral(" · ") + abi;
  if (!ready()) name += QStringLiteral(" · ") + state;
  if (simulated) name += QStringLiteral(" · ") + DeviceListModel::tr("simulated");
  return name;
}

DeviceListModel::DeviceListModel(QObject* parent) : QAbstractTableModel(parent) {}

std::vector<std::string> DeviceListModel::setEntries(const std::vector<adb::DeviceEntry>& entries) {
  // Gone devices first, from the bottom so the rows above keep their numbers.
  for (int r = int(rows_.size()) - 1; r >= 0; --r) {
    const auto& serial = rows_[std::size_t(r)].entry.serial;
    const bool kept = std::any_of(entries.begin(), entries.end(),
                                  [&](const adb::DeviceEntry& e) { return e.serial == serial; });
    if (kept) continue;
    beginRemoveRows({}, r, r);
    rows_.erase(rows_.begin() + r);
    endRemoveRows();
  }
  std::vector<std::string> describe;
  for (const auto& e : entries) {
    const int r = rowOf(QString::fromStdString(e.serial));
    if (r < 0) {
      beginInsertRows({}, int(rows_.size()), int(rows_.size()));
      rows_.push_back(Row{e, std::nullopt, {}, false});
      endInsertRows();
    } else if (!(rows_[std::size_t(r)].entry == e)) {
      Row& row = rows_[std::size_t(r)];
      // A device that changed state or reconnected (new transport) is described again.
      if (row.entry.state != e.state || attribute(row.entry, "transport_id") != attribute(e, "transport_id")) {
        row.description.reset();
        row.describe_error.clear();
        row.describing = false;
      }
      row.entry = e;
      rowChanged(r);
    }
    Row& row = rows_[std::size_t(rowOf(QString::fromStdString(e.serial)))];
    if (row.entry.state == "device" && !row.description && !row.describing &&
        row.describe_error.isEmpty()) {
      row.describing = true;
      describe.push_back(e.serial);
    }
  }
  return describe;
}

void DeviceListModel::setDescription(const device::DeviceDescription& description) {
  const int r = rowOf(QString::fromStdString(description.serial));
  if (r < 0) return;  // unplugged while it was being described
  Row& row = rows_[std::size_t(r)];
  row.description = description;
  row.describe_error.clear();
  row.describing = false;
  rowChanged(r);
}

void DeviceListModel::setDescribeError(const std::string& serial, const QString& error) {
  const int r = rowOf(QString::fromStdString(serial));
  if (r < 0) return;
  Row& row = rows_[std::size_t(r)];
  row.describe_error = error;
  row.describing = false;
  rowChanged(r);
}

void DeviceListModel::setSimulatedSerial(const QString& serial) {
  const QString before = simulated_serial_;
  simulated_serial_ = serial;
  for (const QString& s : {before, serial})
    if (const int r = rowOf(s); r >= 0) rowChanged(r);
}

int DeviceListModel::rowOf(const QString& serial) const {
  if (serial.isEmpty()) return -1;
  const std::string s = serial.toStdString();
  for (std::size_t r = 0; r < rows_.size(); ++r)
    if (rows_[r].entry.serial == s) return int(r);
  return -1;
}

const DeviceListModel::Row* DeviceListModel::rowAt(int row) const {
  return row >= 0 && row < int(rows_.size()) ? &rows_[std::size_t(row)] : nullptr;
}

bool DeviceListModel::simulated(const Row& row) const {
  if (row.description) return row.description->simulated;
  return !simulated_serial_.isEmpty() && QString::fromStdString(row.entry.serial) == simulated_serial_;
}

DeviceSummary DeviceListModel::summary(int r) const {
  DeviceSummary s;
  const Row* row = rowAt(r);
  if (!row) return s;
  s.serial = QString::fromStdString(row->entry.serial);
  s.state = QString::fromStdString(row->entry.state);
  s.model = row->description && !row->description->model.empty()
                ? QString::fromStdString(row->description->model)
                : listedModel(row->entry);
  if (row->description) s.abi = QString::fromStdString(row->description->abi);
  s.simulated = simulated(*row);
  return s;
}

std::vector<DeviceSummary> DeviceListModel::summaries() const {
  std::vector<DeviceSummary> out;
  for (int r = 0; r < rowCount(); ++r) out.push_back(summary(r));
  return out;
}

int DeviceListModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : int(rows_.size());
}

int DeviceListModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : Columns;
}

QVariant DeviceListModel::data(const QModelIndex& index, int role) const {
  const Row* row = index.isValid() ? rowAt(index.row()) : nullptr;
  if (!row) return {};
  const DeviceSummary s = summary(index.row());
  const bool sim = s.simulated;
  if (role == Qt::DisplayRole) {
    switch (index.column()) {
      case Serial: return s.serial;
      case State: return s.state;
      case Model: return s.model;
      case Abi:
        if (!s.abi.isEmpty()) return s.abi;
        if (row->describing) return tr("…");
        if (!row->describe_error.isEmpty()) return tr("unknown");
        return QString();
      case Kind:
        if (sim) return tr("simulated");
        if (s.serial.startsWith(QLatin1String("emulator-"))) return tr("emulator");
        return s.serial.contains(':') ? tr("TCP/IP") : tr("USB");
    }
  }
  if (role == Qt::ToolTipRole) {
    if (!row->describe_error.isEmpty()) return tr("Could not read the device's properties: %1").arg(row->describe_error);
    if (index.column() == State && s.state == QLatin1String("unauthorized"))
      return tr("Accept the USB debugging prompt on the phone's screen.");
    if (index.column() == State && s.state == QLatin1String("offline"))
      return tr("The device does not answer: reconnect it, or restart its adb daemon.");
    if (sim) return tr("darkroom-simphone: a simulated phone on this computer; every result it "
                       "gives is labelled simulated.");
    if (row->description) return QString::fromStdString(row->description->fingerprint);
    return {};
  }
  if (role == Qt::ForegroundRole) {
    if (sim && index.column() == Kind) return seriesColor(1);  // the simulated badge's orange
    if (!s.ready() && index.column() == State) return seriesColor(5);
  }
  if (role == Qt::FontRole && sim && index.column() == Kind) {
    QFont bold;
    bold.setBold(true);
    return bold;
  }
  return {};
}

QVariant DeviceListModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case Serial: return tr("Serial");
    case State: return tr("State");
    case Model: return tr("Model");
    case Abi: return tr("ABI");
    case Kind: return tr("Kind");
  }
  return {};
}

void DeviceListModel::rowChanged(int r) { emit dataChanged(index(r, 0), index(r, Columns - 1)); }

}  // namespace darkroom::views
