// Follows the adb server's device list (host:track-devices-l) on a thread of its own and hands
// every new list to the UI thread with a queued call. When the server goes away (killed, adb
// upgraded) tracking starts again after a short pause, starting a new server; the status says
// what happened and what to do when it cannot recover (no adb installed).
//
// A server is started only once one has been seen or startServer() was called: merely looking
// at the device list never leaves an adb server running that nobody asked for.
#pragma once

#include <darkroom/adb/client.h>

#include <QObject>
#include <QString>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace darkroom::views {

class DeviceTracker : public QObject {
  Q_OBJECT

 public:
  enum class State {
    Stopped,
    Connecting,  // asking the server (and starting one when that is allowed)
    Tracking,    // the list is live
    NoServer,    // no server listens and none was asked for: startServer() starts one
    Lost,        // the server went away or did not start; retrying
    NoAdb,       // no server and no adb program to start one
  };
  Q_ENUM(State)

  explicit DeviceTracker(adb::ServerAddress address = adb::ServerAddress::fromEnvironment(),
                         adb::ClientOptions options = {}, QObject* parent = nullptr);
  ~DeviceTracker() override;  // stops and joins the thread

  void start();
  void stop();
  bool running() const { return thread_.joinable(); }
  // Lets tracking start a server when none listens (options.start_server permitting), and
  // retries at once.
  void startServer();

  State state() const { return state_; }
  QString statusText() const { return status_; }
  const std::vector<adb::DeviceEntry>& devices() const { return devices_; }
  const adb::ServerAddress& address() const { return address_; }
  // How many times tracking (re)started; tests see a restart after the server was killed.
  int attempts() const { return attempts_; }
  // The pause before tracking starts again, growing from `first` to `longest` while it fails.
  void setRetryDelays(int first_ms, int longest_ms);

 signals:
  void devicesChanged(const std::vector<darkroom::adb::DeviceEntry>& devices);
  void stateChanged(darkroom::views::DeviceTracker::State state, const QString& status);

 private:
  void loop(int generation);
  // Waits up to `ms` unless stop() or startServer() comes first; false when stopping.
  bool pause(int ms);
  void post(int generation, State state, const QString& status);
  // Runs `f` on the UI thread unless tracking was stopped or restarted since `generation`.
  template <typename F>
  void onUiThread(int generation, F f);

  adb::ServerAddress address_;
  adb::ClientOptions options_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> may_start_server_{false};
  bool kick_ = false;  // under mutex_: retry now
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<int> first_delay_ms_{500};
  std::atomic<int> longest_delay_ms_{5000};

  // UI thread only.
  State state_ = State::Stopped;
  QString status_;
  std::vector<adb::DeviceEntry> devices_;
  int attempts_ = 0;
  int generation_ = 0;
};

// Whether the adb program `binary` can be run (a path, or a name found on PATH).
bool adbProgramFound(const std::string& binary);

}  // namespace darkroom::views
