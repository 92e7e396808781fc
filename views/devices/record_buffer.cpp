#include "devices/record_buffer.h"

#include <utility>

namespace darkroom::views {

void RecordBuffer::append(const device::AgentRecord& record) {
  std::lock_guard lock(mutex_);
  pending_.push_back(record);
  ++appended_;
}

std::vector<device::AgentRecord> RecordBuffer::take() {
  std::vector<device::AgentRecord> out;
  std::lock_guard lock(mutex_);
  out.swap(pending_);
  return out;
}

std::size_t RecordBuffer::appended() const {
  std::lock_guard lock(mutex_);
  return appended_;
}

bool RecordBuffer::empty() const {
  std::lock_guard lock(mutex_);
  return pending_.empty();
}

void RecordBuffer::setTransfer(const device::TransferUpdate& update) {
  std::lock_guard lock(mutex_);
  transfer_ = update;
}

std::optional<device::TransferUpdate> RecordBuffer::takeTransfer() {
  std::lock_guard lock(mutex_);
  return std::exchange(transfer_, std::nullopt);
}

}  // namespace darkroom::views
