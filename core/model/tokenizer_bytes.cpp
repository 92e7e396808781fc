// The demo models' tokenizer: every byte is its own token, so any text round-trips and no file
// is needed.
#include "darkroom/tokenizer.h"

namespace darkroom {
namespace {

class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<std::int32_t> encode(std::string_view text) const override {
    std::vector<std::int32_t> ids;
    ids.reserve(text.size());
    for (char c : text) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  }

  std::string decode(const std::vector<std::int32_t>& ids) const override {
    std::string text;
    text.reserve(ids.size());
    for (std::int32_t id : ids) {
      if (id >= 0 && id < 256)
        text += static_cast<char>(id);
      else if (id == byte_tokens::kBos)
        text += "<bos>";
      else if (id == byte_tokens::kEos)
        text += "<eos>";
      else if (id == byte_tokens::kPad)
        text += "<pad>";
      else
        throw TokenizerError("token id " + std::to_string(id) + " is not in the byte vocabulary");
    }
    return text;
  }

  std::size_t vocabSize() const override { return byte_tokens::kVocabSize; }
  std::optional<std::int32_t> bosId() const override { return byte_tokens::kBos; }
  std::optional<std::int32_t> eosId() const override { return byte_tokens::kEos; }
  std::string name() const override { return "bytes"; }
};

}  // namespace

std::unique_ptr<Tokenizer> makeByteTokenizer() { return std::make_unique<ByteTokenizer>(); }

}  // namespace darkroom
