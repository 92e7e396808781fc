// LRU and S3-FIFO neuron caches (see caches.h), and the cache policy names.
#include "caches.h"

#include <algorithm>

namespace darkroom::neuralink {

const char* toString(CachePolicy policy) {
  switch (policy) {
    case CachePolicy::None: return "none";
    case CachePolicy::Lru: return "lru";
    case CachePolicy::S3Fifo: return "s3fifo";
    case CachePolicy::S3FifoLinked: return "linked";
  }
  return "?";
}

CachePolicy parseCachePolicy(const std::string& text) {
  if (text == "none") return CachePolicy::None;
  if (text == "lru") return CachePolicy::Lru;
  if (text == "s3fifo" || text == "s3-fifo") return CachePolicy::S3Fifo;
  if (text == "linked" || text == "s3fifo-linked") return CachePolicy::S3FifoLinked;
  throw NeuralinkError("unknown cache policy '" + text + "' (none, lru, s3fifo, linked)");
}

// ---- LRU ----

bool LruCache::lookup(std::uint64_t key) {
  auto it = map_.find(key);
  if (it == map_.end()) return false;
  list_.splice(list_.begin(), list_, it->second);
  return true;
}

void LruCache::insert(std::uint64_t key, std::int64_t bytes) {
  if (bytes > capacity_ || map_.count(key)) return;
  list_.push_front({key, bytes});
  map_[key] = list_.begin();
  used_ += bytes;
  while (used_ > capacity_) {
    used_ -= list_.back().bytes;
    map_.erase(list_.back().key);
    list_.pop_back();
  }
}

// ---- S3-FIFO ----

S3FifoCache::S3FifoCache(std::int64_t capacity_bytes, double small_fraction)
    : small_cap_(std::int64_t(double(capacity_bytes) * small_fraction)),
      main_cap_(capacity_bytes - std::int64_t(double(capacity_bytes) * small_fraction)) {}

bool S3FifoCache::inMain(std::uint64_t key) const {
  auto it = map_.find(key);
  return it != map_.end() && it->second->main;
}

bool S3FifoCache::lookup(std::uint64_t key) {
  auto it = map_.find(key);
  if (it == map_.end()) return false;
  it->second->freq = std::min(it->second->freq + 1, 3);
  return true;
}

void S3FifoCache::insert(std::uint64_t key, std::int64_t bytes) {
  if (map_.count(key) || bytes > main_cap_) return;
  if (auto g = ghost_map_.find(key); g != ghost_map_.end()) {
    ghost_used_ -= g->second->bytes;
    ghost_.erase(g->second);
    ghost_map_.erase(g);
    insertMain(key, bytes);
    return;
  }
  if (bytes > small_cap_) {  // too big for the small FIFO: straight to main
    insertMain(key, bytes);
    return;
  }
  small_.push_front({key, bytes, 0, false});
  map_[key] = small_.begin();
  small_used_ += bytes;
  evictSmall();
}

void S3FifoCache::insertMain(std::uint64_t key, std::int64_t bytes) {
  main_.push_front({key, bytes, 0, true});
  map_[key] = main_.begin();
  main_used_ += bytes;
  evictMain();
}

void S3FifoCache::evictSmall() {
  while (small_used_ > small_cap_ && !small_.empty()) {
    Entry e = small_.back();
    small_.pop_back();
    small_used_ -= e.bytes;
    map_.erase(e.key);
    if (e.freq >= 1) {
      insertMain(e.key, e.bytes);
    } else {
      addGhost(e.key, e.bytes);
    }
  }
}

void S3FifoCache::evictMain() {
  while (main_used_ > main_cap_ && !main_.empty()) {
    auto last = std::prev(main_.end());
    if (last->freq > 0) {
      last->freq -= 1;
      main_.splice(main_.begin(), main_, last);
    } else {
      main_used_ -= last->bytes;
      map_.erase(last->key);
      main_.pop_back();
    }
  }
}

void S3FifoCache::addGhost(std::uint64_t key, std::int64_t bytes) {
  if (ghost_map_.count(key)) return;
  ghost_.push_front({key, bytes});
  ghost_map_[key] = ghost_.begin();
  ghost_used_ += bytes;
  while (ghost_used_ > main_cap_ && !ghost_.empty()) {
    ghost_used_ -= ghost_.back().bytes;
    ghost_map_.erase(ghost_.back().key);
    ghost_.pop_back();
  }
}

std::unique_ptr<NeuronCache> makeCache(CachePolicy policy, std::int64_t capacity_bytes) {
  switch (policy) {
    case CachePolicy::None: return nullptr;
    case CachePolicy::Lru: return std::make_unique<LruCache>(capacity_bytes);
    case CachePolicy::S3Fifo:
    case CachePolicy::S3FifoLinked: return std::make_unique<S3FifoCache>(capacity_bytes);
  }
  return nullptr;
}

}  // namespace darkroom::neuralink
