// Training text as token batches: the built-in corpus or a text file (one long token stream cut
// into random windows), or JSONL prompt/completion pairs (one example per sequence, loss on the
// completion only). Everything is read and tokenized up front, so a bad file fails before
// training starts.
#pragma once

#include <ATen/ATen.h>

#include "darkroom/finetune.h"
#include "darkroom/tokenizer.h"

namespace darkroom::training {

struct Batch {
  at::Tensor inputs;   // [batch, sequence] int64
  at::Tensor targets;  // [batch, sequence] int64, kIgnore where no loss is taken
  std::int64_t loss_tokens = 0;
};
constexpr std::int64_t kIgnore = -100;

class Dataset {
 public:
  // Throws FinetuneError saying what is wrong (missing file, empty, a malformed line and its
  // number, too few tokens for the sequence length) and how to fix it.
  static Dataset load(const DatasetSpec& spec, const Tokenizer& tokenizer, int sequence,
                      bool add_bos);

  Batch trainBatch(int batch, at::Generator& gen) const;
  // The i-th held-out batch, the same every time.
  Batch evalBatch(int index, int batch) const;
  std::string describe() const;  // "corpus: 204800 tokens (10% held out)"

 private:
  struct Examples {  // either a stream or a list of examples
    at::Tensor stream;                  // [tokens] int64, for text
    std::vector<at::Tensor> tokens;     // per example, for JSONL
    std::vector<std::int64_t> prompt_length;
    std::int64_t count() const;
  };
  Batch windows(const Examples& from, const at::Tensor& starts) const;
  Batch examples(const Examples& from, const std::vector<std::int64_t>& picks) const;
  Batch pick(const Examples& from, const at::Tensor& indices) const;

  int sequence_ = 0;
  std::int64_t pad_ = 0;
  std::string description_;
  Examples train_, eval_;
};

}  // namespace darkroom::training
