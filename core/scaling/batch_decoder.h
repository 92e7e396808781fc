// Batched decoding of many continuations of one prompt (PAPERS.md §3: the matrix unit is idle at
// batch 1, so N candidates cost little more than one). The prompt is prefilled once at batch 1;
// rows share its KV cache until they first decode, then every row of the same length decodes in
// one forward of [rows, 1] tokens, and rows that end leave the batch. Private to core.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "darkroom/tokenizer.h"
#include "model/transformer.h"

namespace darkroom::scaling {

struct SamplingOptions {
  double temperature = 0.8;  // <= 0: greedy (the first of equal maxima)
  double top_p = 0.95;       // nucleus: the smallest set of likeliest tokens with this mass
  // Tokens after the prompt a row may hold, partial text included.
  int max_new_tokens = 96;
  // An extension ends once the text it added completes one of these ("\n", " .").
  std::vector<std::string> stops;
  bool stop_at_eos = true;
};

// How a row's last extension ended.
enum class RowEnd { Open, Stop, Eos, Length };

struct DecodeStats {
  std::int64_t prefill_tokens = 0;    // prompt and partial-text tokens run through the model
  std::int64_t tokens = 0;            // sampled tokens of every row (EOS included)
  std::vector<int> rows_per_forward;  // the batch of each decoding forward, in order
  int maxRows() const;
};

// A seed for one row, mixed from the search's seed and the row's coordinates (SplitMix64), so
// that a candidate's tokens depend on these numbers only.
std::uint64_t rowSeed(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0);

// Rows of continuations of one prompt that can be forked, reordered, dropped and extended. The
// searches run on this interface: BatchDecoder on a model, the tests on scripted rows.
class Decoder {
 public:
  virtual ~Decoder() = default;
  // Replaces all rows with one row per seed: the prompt followed by partials[i] (empty
  // `partials`: the prompt alone for every row). Resets the stats.
  virtual void start(const std::string& prompt, const std::vector<std::string>& partials,
                     const std::vector<std::uint64_t>& seeds) = 0;
  // The new rows are the old rows `parents`, in that order (a repeat forks a row, a row left
  // out is dropped). With seeds (one per new row) each samples from its seed from now on;
  // without, every row keeps its own generator.
  virtual void select(const std::vector<int>& parents,
                      const std::vector<std::uint64_t>& seeds = {}) = 0;
  // Extends these rows until each ends: a stop string completed by this extension, EOS, or
  // max_new_tokens. A row that ended with EOS stays as it is.
  virtual void extend(const std::vector<int>& rows, const SamplingOptions& options) = 0;

  virtual int rows() const = 0;
  virtual const std::string& text(int row) const = 0;  // after the prompt, partial included
  virtual RowEnd end(int row) const = 0;
  virtual const DecodeStats& stats() const = 0;
};

// Every row, in order.
std::vector<int> allRows(const Decoder& decoder);

// What the decoder runs: a Transformer (float32, or a quantized model's with its hooks) and the
// tokenizer of its folder.
struct DecodeModel {
  const model::Transformer* transformer = nullptr;
  const model::ForwardHooks* hooks = nullptr;  // quant::QuantizedModel::hooks(), or none
  const Tokenizer* tokenizer = nullptr;
  bool add_bos = false;  // model::addsBos of the folder
};

// The model-backed decoder. Rows keep their KV cache in groups of equal length, each a batched
// KVCache [rows, kv_heads, length, head_dim]; a row's last token waits outside the cache until
// the next forward. A forward takes the rows of the shortest length (all of them when they are
// level, as in Best-of-N), gathering them from their groups with index_select; rows that end
// stay behind, so the batch shrinks, and what stays behind is cut down to its own rows, so the
// caches never hold more rows than there are. Forking only copies a reference to the parent's
// cache row: the copy happens in the next gather.
class BatchDecoder final : public Decoder {
 public:
  explicit BatchDecoder(const DecodeModel& model);
  void start(const std::string& prompt, const std::vector<std::string>& partials,
             const std::vector<std::uint64_t>& seeds) override;
  void select(const std::vector<int>& parents,
              const std::vector<std::uint64_t>& seeds = {}) override;
  void extend(const std::vector<int>& rows, const SamplingOptions& options) override;
  int rows() const override { return static_cast<int>(rows_.size()); }
  const std::string& text(int row) const override { return at(row).text; }
  RowEnd end(int row) const override { return at(row).end; }
  const DecodeStats& stats() const override { return stats_; }
  // Rows of KV cache held over all groups (forks share their parent's until they decode).
  std::int64_t cachedRows() const;
  // The row's token ids after the prompt (partial text and sampled tokens, EOS left out).
  const std::vector<std::int32_t>& ids(int row) const { return at(row).ids; }

 private:
  struct Group {
    model::KVCache cache;  // batch = the slots rows point at
    std::int64_t length = 0;
  };
  struct Row {
    std::shared_ptr<Group> group;
    std::int64_t slot = 0;
    std::int32_t pending = 0;  // the last token, not in the cache yet
    std::vector<std::int32_t> ids;
    std::string text;
    std::mt19937_64 rng;
    RowEnd end = RowEnd::Open;
  };
  const Row& at(int row) const;
  // A new group of this length holding the cache rows `picks` (source group, slot), in order.
  static std::shared_ptr<Group> gather(
      const std::vector<std::pair<const Group*, std::int64_t>>& picks, std::int64_t length);
  // Shrinks a group to the slots rows still point at (none: it is freed with its last row).
  void compact(const std::shared_ptr<Group>& group);
  // One forward of the pending tokens of `batch` (rows of one length), then one sampled token
  // each.
  void step(const std::vector<int>& batch, const SamplingOptions& options,
            const std::vector<std::size_t>& call_start);
  std::int32_t sample(const float* logits, const SamplingOptions& options, Row& row) const;

  DecodeModel model_;
  std::vector<Row> rows_;
  DecodeStats stats_;
};

}  // namespace darkroom::scaling
