// Tokenizers: text to token ids and back, for the models Darkroom runs. Three kinds:
//  - "bpe": a Hugging Face tokenizer.json holding a byte-level BPE model (GPT-2, OPT, Qwen2,
//    LLaMA-3 and their relatives),
//  - "sentencepiece": a SentencePiece tokenizer.model (LLaMA-1/2, Mistral, T5, ...),
//  - "bytes": Darkroom's built-in demo models, one token per byte plus <bos>, <eos> and <pad>.
// A loaded tokenizer never changes and may be used from several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace darkroom {

class TokenizerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // The ids for text, with no BOS/EOS added. Any bytes are accepted, invalid UTF-8 included.
  // Special tokens written out in the text ("<|endoftext|>") become their single id with "bpe",
  // as in Hugging Face; SentencePiece matches only its user-defined symbols; "bytes" none.
  virtual std::vector<std::int32_t> encode(std::string_view text) const = 0;

  // The text for ids; special tokens come out as their text ("<|endoftext|>", "</s>", "<eos>").
  // The result is raw bytes and may be invalid UTF-8, since a byte-level token can hold part of
  // a character (see StreamDecoder). Throws TokenizerError for an id with no token.
  virtual std::string decode(const std::vector<std::int32_t>& ids) const = 0;

  // One more than the highest id.
  virtual std::size_t vocabSize() const = 0;
  virtual std::optional<std::int32_t> bosId() const = 0;
  virtual std::optional<std::int32_t> eosId() const = 0;
  virtual std::string name() const = 0;  // "bpe", "sentencepiece" or "bytes"
};

// Turns token ids into text as they are generated. A token may end inside a UTF-8 character
// (byte-level BPE, byte fallback), and SentencePiece renders a piece differently at the start of
// a text, so each push decodes the new tokens together with the previous ones and hands out only
// what was added, holding it back while it ends in an unfinished character (a truncated UTF-8
// sequence, or the U+FFFD SentencePiece puts there). The pushes plus finish() add up to
// decode() of all the ids. Keeps a reference to the tokenizer.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  // The text completed by this token; often empty. Throws TokenizerError for an invalid id.
  std::string push(std::int32_t id);
  // Whatever is still held back, as is; the decoder starts afresh afterwards.
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  std::vector<std::int32_t> ids_;  // the tokens handed out last (context), then the held ones
  std::size_t context_ = 0;        // how many of ids_ are context
  std::string context_text_;       // decode() of the context alone
};

// The vocabulary of the demo models: ids 0-255 are the bytes, then these.
namespace byte_tokens {
constexpr std::int32_t kBos = 256;
constexpr std::int32_t kEos = 257;
constexpr std::int32_t kPad = 258;
constexpr std::int32_t kVocabSize = 259;
}  // namespace byte_tokens

// The tokenizer of a Hugging Face style model folder: tokenizer.json when present and usable,
// otherwise tokenizer.model (LLaMA-2 style folders ship both, and their tokenizer.json is not
// byte-level). Throws TokenizerError naming the files it looked for.
std::unique_ptr<Tokenizer> loadTokenizer(const std::filesystem::path& model_dir);

// A byte-level BPE tokenizer.json. BOS/EOS come from tokenizer_config.json beside it
// (bos_token, eos_token) when that file is there, otherwise from well-known special tokens
// (<|begin_of_text|>, <s>, <|endoftext|> / <|end_of_text|>, </s>, <|endoftext|>). Throws
// TokenizerError naming the file and the JSON path of what it cannot use.
std::unique_ptr<Tokenizer> loadBpeTokenizer(const std::filesystem::path& tokenizer_json);

// A SentencePiece model; encode applies the model's own normalization.
std::unique_ptr<Tokenizer> loadSentencePieceTokenizer(const std::filesystem::path& tokenizer_model);

std::unique_ptr<Tokenizer> makeByteTokenizer();

}  // namespace darkroom
