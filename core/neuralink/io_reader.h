// Real reads of a file with a given queue depth: O_DIRECT (or buffered) pread on a pool of
// threads, or io_uring when built with liburing. Private to core/neuralink (io_engine.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "darkroom/neuralink/io_engine.h"

namespace darkroom::neuralink {

class BlockReader {
 public:
  // Throws NeuralinkError for a missing file, for O_DIRECT on a file system that refuses it
  // (naming the file system and suggesting a directory on a real disk), and for io_uring in a
  // build without liburing.
  static std::unique_ptr<BlockReader> open(const std::filesystem::path& file, int queue_depth,
                                           bool direct, bool io_uring);
  virtual ~BlockReader() = default;
  // Issues every read with up to queue_depth in flight and waits for all of them. Offsets,
  // lengths must be 4 KiB multiples when direct. Fills read_us (service time of each read, µs)
  // when given. Returns the batch's wall time in seconds. A short read is an error unless it
  // stops at the end of the file.
  virtual double run(const std::vector<PlannedRead>& reads, std::vector<double>* read_us) = 0;
  std::uint64_t fileSize() const { return file_size_; }
  // Whether the file has fewer allocated blocks than its size (holes are not read from disk).
  bool sparse() const { return sparse_; }
  std::string engine() const { return engine_; }

 protected:
  std::uint64_t file_size_ = 0;
  bool sparse_ = false;
  std::string engine_;
};

}  // namespace darkroom::neuralink
