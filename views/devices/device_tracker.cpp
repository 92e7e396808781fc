#include "devices/device_tracker.h"

#include <QMetaObject>
#include <QStandardPaths>

#include <algorithm>
#include <chrono>

namespace darkroom::views {

bool adbProgramFound(const std::string& binary) {
  return !QStandardPaths::findExecutable(QString::fromStdString(binary)).isEmpty();
}

DeviceTracker::DeviceTracker(adb::ServerAddress address, adb::ClientOptions options,
                             QObject* parent)
    : QObject(parent), address_(std::move(address)), options_(std::move(options)) {}

DeviceTracker::~DeviceTracker() { stop(); }

void DeviceTracker::setRetryDelays(int first_ms, int longest_ms) {
  first_delay_ms_ = std::max(1, first_ms);
  longest_delay_ms_ = std::max(first_delay_ms_.load(), longest_ms);
}

void DeviceTracker::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  state_ = State::Connecting;
  status_ = tr("Connecting to the adb server on port %1…").arg(address_.port);
  emit stateChanged(state_, status_);
  const int generation = ++generation_;
  thread_ = std::thread([this, generation] { loop(generation); });
}

void DeviceTracker::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  state_ = State::Stopped;
  status_ = tr("Not following the device list.");
  emit stateChanged(state_, status_);
}

void DeviceTracker::startServer() {
  {
    std::lock_guard lock(mutex_);
    may_start_server_ = true;
    kick_ = true;
  }
  wake_.notify_all();
}

bool DeviceTracker::pause(int ms) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_.load() || kick_; });
  kick_ = false;
  return !stop_;
}

template <typename F>
void DeviceTracker::onUiThread(int generation, F f) {
  QMetaObject::invokeMethod(
      this,
      [this, generation, f = std::move(f)] {
        if (generation == generation_ && thread_.joinable()) f();
      },
      Qt::QueuedConnection);
}

void DeviceTracker::post(int generation, State state, const QString& status) {
  onUiThread(generation, [this, state, status] {
    state_ = state;
    status_ = status;
    emit stateChanged(state, status);
  });
}

void DeviceTracker::loop(int generation) {
  int delay = first_delay_ms_;
  bool lost_once = false;
  while (!stop_) {
    onUiThread(generation, [this] { ++attempts_; });
    adb::ClientOptions options = options_;
    options.start_server = options_.start_server && may_start_server_;
    try {
      adb::Client client(address_, options);
      bool first = true;
      client.trackDevices(
          [&](const std::vector<adb::DeviceEntry>& list) {
            if (first) {
              first = false;
              delay = first_delay_ms_;
              // A server was here: should it go away, starting another is what adb itself does.
              may_start_server_ = true;
              post(generation, State::Tracking,
                   lost_once ? tr("The adb server on port %1 is back; following its device list.")
                                   .arg(address_.port)
                             : tr("Following the adb server's device list (port %1).")
                                   .arg(address_.port));
            }
            onUiThread(generation, [this, list] {
              devices_ = list;
              emit devicesChanged(devices_);
            });
          },
          stop_);
      if (stop_) break;
      // The server closed the stream without an error: it is shutting down.
      throw adb::AdbError("the adb server closed the device list");
    } catch (const std::exception& e) {
      if (stop_) break;
      // The devices are unknown while no server answers: show none rather than a stale list.
      onUiThread(generation, [this] {
        if (devices_.empty()) return;
        devices_.clear();
        emit devicesChanged(devices_);
      });
      const QString why = QString::fromUtf8(e.what());
      const double seconds = delay / 1000.0;
      if (!adbProgramFound(options_.adb_binary)) {
        post(generation, State::NoAdb,
             tr("No adb server answers on port %1 and the adb program ('%2') is not installed: "
                "install it (Debian/Ubuntu: sudo apt install adb) or start a server by hand. "
                "Trying again in %3 s. (%4)")
                 .arg(address_.port)
                 .arg(QString::fromStdString(options_.adb_binary))
                 .arg(seconds, 0, 'f', 1)
                 .arg(why));
      } else if (!(options_.start_server && may_start_server_)) {
        // Nobody started a server yet: say so, and keep looking for one quietly.
        post(generation, State::NoServer,
             tr("No adb server is running on port %1. Start one (the button, or `adb "
                "start-server`) to see devices; this list follows it as soon as it runs.")
                 .arg(address_.port));
        delay = longest_delay_ms_;
      } else {
        lost_once = true;
        post(generation, State::Lost,
             tr("Lost the adb server on port %1: %2 — restarting tracking in %3 s.")
                 .arg(address_.port)
                 .arg(why)
                 .arg(seconds, 0, 'f', 1));
      }
      if (!pause(delay)) break;
      delay = std::min(delay * 2, longest_delay_ms_.load());
      if (may_start_server_)
        post(generation, State::Connecting,
             tr("Restarting tracking: connecting to the adb server on port %1…").arg(address_.port));
    }
  }
}

}  // namespace darkroom::views
