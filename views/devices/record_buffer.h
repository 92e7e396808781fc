// The hand-over between a profile job and the Profile panel: the job's on_record callback (a
// worker thread) appends agent records under a lock, and its on_transfer callback leaves the
// latest push progress; the panel's redraw timer takes whatever arrived since its last tick in
// one swap. Producers never wait for a redraw and the view never
// redraws once per record (ARCHITECTURE.md rule 5).
#pragma once

#include <darkroom/device/session.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace darkroom::views {

class RecordBuffer {
 public:
  // Any thread.
  void append(const device::AgentRecord& record);
  // Everything appended since the last take, in arrival order; the buffer is left empty.
  std::vector<device::AgentRecord> take();
  // How many records were ever appended (taken or not).
  std::size_t appended() const;
  bool empty() const;
  // Any thread: only the latest update is kept (one per 64 KiB chunk arrives).
  void setTransfer(const device::TransferUpdate& update);
  // The latest update since the last call, if any.
  std::optional<device::TransferUpdate> takeTransfer();

 private:
  mutable std::mutex mutex_;
  std::vector<device::AgentRecord> pending_;
  std::size_t appended_ = 0;
  std::optional<device::TransferUpdate> transfer_;
};

}  // namespace darkroom::views
