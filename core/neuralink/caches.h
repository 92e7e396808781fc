// Neuron caches of the I/O engine, keyed by (layer, neuron), sized in bytes (every entry holds
// one bundle). Private to core/neuralink.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>

#include "darkroom/neuralink/io_engine.h"

namespace darkroom::neuralink {

inline std::uint64_t cacheKey(std::int64_t layer, std::int32_t neuron) {
  return (std::uint64_t(layer) << 32) | std::uint32_t(neuron);
}

class NeuronCache {
 public:
  virtual ~NeuronCache() = default;
  // A hit updates the entry's recency / frequency.
  virtual bool lookup(std::uint64_t key) = 0;
  // Called for a miss after it was read (the admission decision was made by the caller).
  virtual void insert(std::uint64_t key, std::int64_t bytes) = 0;
  virtual std::int64_t usedBytes() const = 0;
  virtual bool contains(std::uint64_t key) const = 0;
};

class LruCache : public NeuronCache {
 public:
  explicit LruCache(std::int64_t capacity_bytes) : capacity_(capacity_bytes) {}
  bool lookup(std::uint64_t key) override;
  void insert(std::uint64_t key, std::int64_t bytes) override;
  std::int64_t usedBytes() const override { return used_; }
  bool contains(std::uint64_t key) const override { return map_.count(key) != 0; }

 private:
  struct Entry {
    std::uint64_t key;
    std::int64_t bytes;
  };
  std::int64_t capacity_, used_ = 0;
  std::list<Entry> list_;  // front: most recent
  std::unordered_map<std::uint64_t, std::list<Entry>::iterator> map_;
};

// S3-FIFO (Yang et al., SOSP'23): a small FIFO (10% of the bytes) that new entries enter, a main
// FIFO (90%), a ghost FIFO of keys recently evicted from the small one (as many bytes' worth as
// the main FIFO), and a 2-bit access counter per entry.
// - hit: counter = min(counter + 1, 3).
// - insert: a key found in the ghost goes to the main FIFO, any other to the small FIFO.
// - small FIFO over its size: its oldest entry moves to the main FIFO when it was hit at least
//   once while there (counter reset to 0), else it is dropped and its key enters the ghost.
// - main FIFO over its size: its oldest entry is reinserted with counter − 1 while the counter is
//   above 0, else evicted.
class S3FifoCache : public NeuronCache {
 public:
  explicit S3FifoCache(std::int64_t capacity_bytes, double small_fraction = 0.1);
  bool lookup(std::uint64_t key) override;
  void insert(std::uint64_t key, std::int64_t bytes) override;
  std::int64_t usedBytes() const override { return small_used_ + main_used_; }
  bool contains(std::uint64_t key) const override { return map_.count(key) != 0; }
  bool inGhost(std::uint64_t key) const { return ghost_map_.count(key) != 0; }
  bool inMain(std::uint64_t key) const;

 private:
  struct Entry {
    std::uint64_t key;
    std::int64_t bytes;
    int freq;
    bool main;
  };
  void insertMain(std::uint64_t key, std::int64_t bytes);
  void evictSmall();
  void evictMain();
  void addGhost(std::uint64_t key, std::int64_t bytes);
  std::int64_t small_cap_, main_cap_;
  std::int64_t small_used_ = 0, main_used_ = 0, ghost_used_ = 0;
  std::list<Entry> small_, main_;  // front: newest
  std::unordered_map<std::uint64_t, std::list<Entry>::iterator> map_;
  struct Ghost {
    std::uint64_t key;
    std::int64_t bytes;
  };
  std::list<Ghost> ghost_;
  std::unordered_map<std::uint64_t, std::list<Ghost>::iterator> ghost_map_;
};

// None gives nullptr.
std::unique_ptr<NeuronCache> makeCache(CachePolicy policy, std::int64_t capacity_bytes);

}  // namespace darkroom::neuralink
