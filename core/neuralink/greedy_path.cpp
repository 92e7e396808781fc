// The greedy-edge Hamiltonian path (PAPERS.md §2): pairs in increasing distance d = 1 − P(ij),
// i.e. decreasing co-activation count; a pair is skipped when either neuron already has two
// neighbours or both are in one chain (union-find); finally the chains are walked.
//
// All pairs: a counting sort by count (counts are at most the token count), O(n²).
// Phased: the same edges in the same order, from a few threaded passes over shrinking
// submatrices (only neurons still open), each taking one band of counts.
// Top-k: each neuron's k most co-activated partners (a row scan with a small sorted buffer, on
// threads) feed a lazy greedy (see greedyTopK); a neuron that runs out of candidates rescans its
// row a bounded number of times; chains left over are joined in rounds over the open ends.
#include "neuralink/greedy_path.h"

#include <algorithm>
#include <atomic>
#include <numeric>
#include <thread>
#include <utility>

namespace darkroom::neuralink::detail {
namespace {

int threadCount(int threads) {
  return threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
}

template <typename Fn>
void parallelFor(std::int64_t count, int threads, Fn&& fn) {
  std::atomic<std::int64_t> next{0};
  auto worker = [&] {
    for (std::int64_t i; (i = next.fetch_add(64)) < count;)
      for (std::int64_t k = i; k < std::min(count, i + 64); ++k) fn(k);
  };
  const int n = int(std::min<std::int64_t>(threadCount(threads), (count + 63) / 64));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
}

// The k largest positive entries of row[cols[0..m)] (skipping `self` and entries whose chain is
// `skip_chain`, when given), largest first, ties by lower column.
struct TopK {
  explicit TopK(int k) : k_(k) { items_.reserve(std::size_t(k) + 1); }
  void offer(std::uint32_t w, std::int32_t j) {
    if (w == 0 || (int(items_.size()) == k_ && w <= items_.back().first)) return;
    auto pos = std::upper_bound(items_.begin(), items_.end(), w,
                                [](std::uint32_t v, const auto& it) { return v > it.first; });
    items_.insert(pos, {w, j});
    if (int(items_.size()) > k_) items_.pop_back();
  }
  const std::vector<std::pair<std::uint32_t, std::int32_t>>& items() const { return items_; }
  void clear() { items_.clear(); }

 private:
  int k_;
  std::vector<std::pair<std::uint32_t, std::int32_t>> items_;
};

void sortEdges(std::vector<Edge>& edges) {
  std::sort(edges.begin(), edges.end(), [](const Edge& x, const Edge& y) {
    if (x.weight != y.weight) return x.weight > y.weight;
    if (x.a != y.a) return x.a < y.a;
    return x.b < y.b;
  });
  edges.erase(std::unique(edges.begin(), edges.end(),
                          [](const Edge& x, const Edge& y) { return x.a == y.a && x.b == y.b; }),
              edges.end());
}

void linkAll(PathBuilder& path, const std::vector<Edge>& edges, std::int64_t n,
             std::vector<Edge>* chosen) {
  for (const Edge& e : edges) {
    if (path.links() == n - 1) break;
    if (path.link(e.a, e.b) && chosen) chosen->push_back(e);
  }
}

}  // namespace

PathBuilder::PathBuilder(std::int32_t n)
    : next_(std::size_t(n), {-1, -1}), parent_(std::size_t(n)), size_(std::size_t(n), 1) {
  std::iota(parent_.begin(), parent_.end(), 0);
}

std::int32_t PathBuilder::chain(std::int32_t v) {
  while (parent_[std::size_t(v)] != v) {
    parent_[std::size_t(v)] = parent_[std::size_t(parent_[std::size_t(v)])];  // path halving
    v = parent_[std::size_t(v)];
  }
  return v;
}

bool PathBuilder::link(std::int32_t a, std::int32_t b) {
  if (a == b || !open(a) || !open(b)) return false;
  std::int32_t ra = chain(a), rb = chain(b);
  if (ra == rb) return false;
  if (size_[std::size_t(ra)] < size_[std::size_t(rb)]) std::swap(ra, rb);
  parent_[std::size_t(rb)] = ra;
  size_[std::size_t(ra)] += size_[std::size_t(rb)];
  auto add = [&](std::int32_t v, std::int32_t w) {
    auto& nb = next_[std::size_t(v)];
    nb[nb[0] < 0 ? 0 : 1] = w;
  };
  add(a, b);
  add(b, a);
  ++links_;
  return true;
}

std::vector<std::int32_t> PathBuilder::walk(const std::vector<std::uint32_t>& count) const {
  const auto n = std::int32_t(next_.size());
  std::vector<std::vector<std::int32_t>> chains;
  std::vector<char> seen(std::size_t(n), 0);
  for (std::int32_t v = 0; v < n; ++v) {
    if (seen[std::size_t(v)] || next_[std::size_t(v)][1] >= 0) continue;  // start at an end
    std::vector<std::int32_t> c;
    for (std::int32_t prev = -1, cur = v; cur >= 0;) {
      seen[std::size_t(cur)] = 1;
      c.push_back(cur);
      const auto& nb = next_[std::size_t(cur)];
      const std::int32_t nxt = nb[0] != prev ? nb[0] : nb[1];
      prev = cur;
      cur = nxt;
    }
    chains.push_back(std::move(c));
  }
  std::vector<std::uint64_t> heat(chains.size(), 0);
  for (std::size_t c = 0; c < chains.size(); ++c)
    for (std::int32_t v : chains[c]) heat[c] += count.empty() ? 0 : count[std::size_t(v)];
  std::vector<std::size_t> idx(chains.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) { return heat[x] > heat[y]; });
  std::vector<std::int32_t> order;
  order.reserve(std::size_t(n));
  for (std::size_t c : idx) order.insert(order.end(), chains[c].begin(), chains[c].end());
  return order;  // a cycle cannot form, so every neuron was reached from an end
}

std::vector<std::int32_t> greedyAllPairs(const LayerCoact& stats, std::vector<Edge>* chosen) {
  const std::int64_t n = stats.neurons;
  if (n > 65536) throw NeuralinkError("all-pairs greedy handles layers up to 65536 neurons");
  const std::uint32_t* pair = stats.pair.data();
  std::uint32_t top = 0;
  for (std::int64_t i = 0; i < n; ++i) top = std::max(top, stats.count[std::size_t(i)]);
  // Counting sort of the pairs i < j with f > 0 by f descending, stable (i, then j ascending).
  std::vector<std::uint64_t> start(std::size_t(top) + 2, 0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = i + 1; j < n; ++j) ++start[top - std::min(top, pair[i * n + j])];
  std::uint64_t sum = 0;
  for (auto& s : start) {
    const std::uint64_t c = s;
    s = sum;
    sum += c;
  }
  const std::uint64_t positive = start[top];  // entries with f > 0 come before f = 0 ones
  std::vector<std::uint32_t> sorted(positive);  // (i << 16) | j
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = i + 1; j < n; ++j) {
      const std::uint32_t w = std::min(top, pair[i * n + j]);
      if (w) sorted[start[top - w]++] = std::uint32_t((i << 16) | j);
    }
  PathBuilder path{std::int32_t(n)};
  for (std::uint32_t packed : sorted) {
    if (path.links() == n - 1) break;
    const auto a = std::int32_t(packed >> 16), b = std::int32_t(packed & 0xffff);
    if (path.link(a, b) && chosen) chosen->push_back({a, b, pair[std::int64_t(a) * n + b]});
  }
  return path.walk(stats.count);
}

std::vector<std::int32_t> greedyPhased(const LayerCoact& stats, int threads, std::vector<Edge>* chosen,
                                       std::int64_t batch) {
  const std::int64_t n = stats.neurons;
  if (n > kPhasedMaxNeurons) throw NeuralinkError("phased greedy handles layers up to 65536 neurons");
  const std::uint32_t* pair = stats.pair.data();
  std::uint32_t top = 0;
  for (std::int64_t i = 0; i < n; ++i) top = std::max(top, stats.count[std::size_t(i)]);
  batch = std::max<std::int64_t>(batch, 1);
  PathBuilder path{std::int32_t(n)};
  std::vector<std::int32_t> open(static_cast<std::size_t>(n)), root(static_cast<std::size_t>(n));
  std::iota(open.begin(), open.end(), 0);
  std::iota(root.begin(), root.end(), 0);
  std::vector<std::uint64_t> hist, start;
  std::vector<std::uint32_t> sorted;
  std::vector<std::vector<std::uint32_t>> found;  // per block of rows: (a << 16 | b, w) pairs
  // Counts already taken are >= hi; each phase takes the pairs with lo <= f < hi between open
  // neurons of different chains.
  for (std::uint64_t hi = std::uint64_t(top) + 1; hi > 1 && path.links() < n - 1;) {
    const auto m = std::int64_t(open.size());
    if (m < 2) break;
    const bool all = m == n;  // the first phase reads whole rows, without the gather
    // Estimate the counts' histogram from every s-th open row, then pick lo so the phase holds
    // about `batch` pairs.
    hist.assign(std::size_t(hi), 0);
    const std::int64_t s = std::max<std::int64_t>(1, std::min<std::int64_t>(16, m / 64));
    for (std::int64_t p = 0; p < m; p += s) {
      const std::uint32_t* row = pair + std::int64_t(open[std::size_t(p)]) * n;
      for (std::int64_t q = p + 1; q < m; ++q) {
        const std::uint32_t w = row[all ? q : open[std::size_t(q)]];
        if (w > 0 && w < hi) ++hist[w];
      }
    }
    std::uint64_t lo = hi, est = 0;
    while (lo > 1 && est * std::uint64_t(s) < std::uint64_t(batch)) est += hist[--lo];
    // Collect, in blocks of rows on threads; blocks concatenated in row order keep (a, b)
    // ascending, so a stable counting sort by count gives the all-pairs order.
    constexpr std::int64_t kBlock = 32;
    const std::int64_t blocks = (m + kBlock - 1) / kBlock;
    found.resize(std::size_t(blocks));
    const auto lo32 = std::uint32_t(lo), hi32 = std::uint32_t(std::min<std::uint64_t>(hi, 0xffffffffu));
    parallelFor(blocks, threads, [&](std::int64_t blk) {
      auto& out = found[std::size_t(blk)];
      out.clear();
      for (std::int64_t p = blk * kBlock; p < std::min(m, (blk + 1) * kBlock); ++p) {
        const std::int32_t a = open[std::size_t(p)];
        const std::uint32_t* row = pair + std::int64_t(a) * n;
        if (all) {
          for (std::int64_t b = p + 1; b < n; ++b) {
            const std::uint32_t w = row[b];
            if (w >= lo32 && w < hi32) {
              out.push_back((std::uint32_t(a) << 16) | std::uint32_t(b));
              out.push_back(w);
            }
          }
        } else {
          const std::int32_t ra = root[std::size_t(a)];
          for (std::int64_t q = p + 1; q < m; ++q) {
            const std::int32_t b = open[std::size_t(q)];
            const std::uint32_t w = row[b];
            if (w >= lo32 && w < hi32 && root[std::size_t(b)] != ra) {
              out.push_back((std::uint32_t(a) << 16) | std::uint32_t(b));
              out.push_back(w);
            }
          }
        }
      }
    });
    start.assign(std::size_t(hi - lo) + 1, 0);
    for (const auto& out : found)
      for (std::size_t e = 1; e < out.size(); e += 2) ++start[hi - 1 - out[e]];
    std::uint64_t sum = 0;
    for (auto& c : start) sum += std::exchange(c, sum);
    sorted.resize(sum);
    for (const auto& out : found)
      for (std::size_t e = 0; e < out.size(); e += 2) sorted[start[hi - 1 - out[e + 1]]++] = out[e];
    for (std::uint32_t packed : sorted) {
      if (path.links() == n - 1) break;
      const auto a = std::int32_t(packed >> 16), b = std::int32_t(packed & 0xffff);
      if (path.link(a, b) && chosen) chosen->push_back({a, b, pair[std::int64_t(a) * n + b]});
    }
    hi = lo;
    std::size_t kept = 0;
    for (std::int32_t v : open)
      if (path.open(v)) open[kept++] = v;
    open.resize(kept);
    for (std::int32_t v : open) root[std::size_t(v)] = path.chain(v);
  }
  return path.walk(stats.count);
}

std::vector<std::int32_t> greedyTopK(const LayerCoact& stats, int k, int threads,
                                     std::vector<Edge>* chosen, int max_refills) {
  if (k < 1) throw NeuralinkError("greedy placement needs top-k >= 1");
  const std::int64_t n = stats.neurons;
  const std::uint32_t* pair = stats.pair.data();
  // Every neuron's top-k partners (sorted by count descending, ties by lower index).
  std::vector<std::vector<std::pair<std::uint32_t, std::int32_t>>> lists(static_cast<std::size_t>(n));
  parallelFor(n, threads, [&](std::int64_t i) {
    TopK top(k);
    const std::uint32_t* row = pair + i * n;
    for (std::int64_t j = 0; j < n; ++j)
      if (j != i) top.offer(row[j], std::int32_t(j));
    lists[std::size_t(i)] = top.items();
  });
  PathBuilder path{std::int32_t(n)};
  // Lazy greedy: a heap holds each open neuron's best remaining candidate. Edges only ever turn
  // invalid (an end fills up, or both ends join one chain), so popping the heap's top and
  // skipping invalid candidates takes edges in the same decreasing order as sorting all pairs.
  // A neuron whose list runs out while it is still open rescans its row for its top-k partners
  // among the valid ones (at most max_refills times); with no cap this is all-pairs greedy.
  struct Item {
    std::uint32_t weight;
    std::int32_t a, b, from;
    bool operator<(const Item& o) const {  // max-heap on weight, then lower (a, b) first
      if (weight != o.weight) return weight < o.weight;
      if (a != o.a) return a > o.a;
      return b > o.b;
    }
  };
  std::vector<std::size_t> pos(std::size_t(n), 0);
  std::vector<int> refills(std::size_t(n), 0);
  std::vector<Item> heap;
  heap.reserve(std::size_t(n));
  std::vector<std::int32_t> open_list(static_cast<std::size_t>(n));
  std::iota(open_list.begin(), open_list.end(), 0);
  auto pushNext = [&](std::int32_t i) {
    auto& list = lists[std::size_t(i)];
    auto& p = pos[std::size_t(i)];
    while (true) {
      for (; p < list.size(); ++p) {
        const std::int32_t j = list[p].second;
        if (path.open(j) && path.chain(j) != path.chain(i)) {
          heap.push_back({list[p].first, std::min(i, j), std::max(i, j), i});
          std::push_heap(heap.begin(), heap.end());
          return;
        }
      }
      if (max_refills >= 0 && refills[std::size_t(i)] >= max_refills) return;
      ++refills[std::size_t(i)];
      TopK top(k);
      const std::uint32_t* row = pair + std::int64_t(i) * n;
      const std::int32_t own = path.chain(i);
      // Scans only the neurons still open, dropping the ones that filled up (order kept, so
      // ties still go to the lower index).
      std::size_t kept = 0;
      for (std::size_t o = 0; o < open_list.size(); ++o) {
        const std::int32_t j = open_list[o];
        if (!path.open(j)) continue;
        open_list[kept++] = j;
        if (row[j] > 0 && j != i && path.chain(j) != own) top.offer(row[j], j);
      }
      open_list.resize(kept);
      list = top.items();
      p = 0;
      if (list.empty()) return;
    }
  };
  for (std::int32_t i = 0; i < n; ++i) pushNext(i);
  while (!heap.empty() && path.links() < n - 1) {
    std::pop_heap(heap.begin(), heap.end());
    const Item top = heap.back();
    heap.pop_back();
    const std::int32_t i = top.from, j = top.a == i ? top.b : top.a;
    if (!path.open(i)) continue;  // filled up since: it needs no more candidates
    if (path.open(j) && path.chain(i) != path.chain(j)) {
      path.link(i, j);
      if (chosen) chosen->push_back({top.a, top.b, top.weight});
      if (!path.open(i)) continue;
    }
    ++pos[std::size_t(i)];
    pushNext(i);
  }

  // Chains left by the refill cap are joined in rounds: every open end proposes its top-k
  // partners among the other chains' open ends, until a round links nothing.
  for (int round = 0; round < 16 && path.links() < n - 1; ++round) {
    std::vector<std::int32_t> ends, chain;
    for (std::int32_t v = 0; v < n; ++v)
      if (path.open(v)) ends.push_back(v);
    for (std::int32_t v : ends) chain.push_back(path.chain(v));
    const auto m = std::int64_t(ends.size());
    std::vector<Edge> found(static_cast<std::size_t>(m * k));
    std::vector<std::int32_t> counts(static_cast<std::size_t>(m), 0);
    parallelFor(m, threads, [&](std::int64_t e) {
      TopK top(k);
      const std::uint32_t* row = pair + std::int64_t(ends[std::size_t(e)]) * n;
      for (std::int64_t o = 0; o < m; ++o)
        if (chain[std::size_t(o)] != chain[std::size_t(e)]) top.offer(row[ends[std::size_t(o)]], ends[std::size_t(o)]);
      Edge* out = found.data() + e * k;
      const std::int32_t i = ends[std::size_t(e)];
      for (const auto& [w, j] : top.items()) *out++ = {std::min(i, j), std::max(i, j), w};
      counts[std::size_t(e)] = std::int32_t(top.items().size());
    });
    std::vector<Edge> candidates;
    for (std::int64_t e = 0; e < m; ++e)
      candidates.insert(candidates.end(), found.begin() + e * k,
                        found.begin() + e * k + counts[std::size_t(e)]);
    if (candidates.empty()) break;
    sortEdges(candidates);
    const std::int64_t before = path.links();
    linkAll(path, candidates, n, chosen);
    if (path.links() == before) break;
  }
  return path.walk(stats.count);
}

}  // namespace darkroom::neuralink::detail
