// What all tokenizers share: finding the one of a model folder, and streaming decode.
#include "darkroom/tokenizer.h"

namespace darkroom {

std::unique_ptr<Tokenizer> loadTokenizer(const std::filesystem::path& model_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec))
    throw TokenizerError(model_dir.string() + ": no such folder");
  const std::filesystem::path json_file = model_dir / "tokenizer.json";
  const std::filesystem::path model_file = model_dir / "tokenizer.model";
  const bool has_json = std::filesystem::exists(json_file, ec);
  const bool has_model = std::filesystem::exists(model_file, ec);
  if (!has_json && !has_model)
    throw TokenizerError(model_dir.string() +
                         ": no tokenizer found (looked for tokenizer.json and tokenizer.model)");
  if (!has_json) return loadSentencePieceTokenizer(model_file);
  try {
    return loadBpeTokenizer(json_file);
  } catch (const TokenizerError& json_error) {
    if (!has_model) throw;
    // LLaMA-2 style folders hold a tokenizer.json that is not byte-level beside the
    // tokenizer.model it was converted from; the latter then does the same job.
    try {
      return loadSentencePieceTokenizer(model_file);
    } catch (const TokenizerError& model_error) {
      throw TokenizerError(std::string(json_error.what()) + "; and " + model_error.what());
    }
  }
}

namespace {

// Whether text stops inside a character: a UTF-8 lead byte still short of continuation bytes,
// or the U+FFFD that SentencePiece writes for the bytes of a character not yet complete.
bool endsMidCharacter(const std::string& text) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  if (text.size() >= kReplacement.size() &&
      text.compare(text.size() - kReplacement.size(), kReplacement.size(), kReplacement) == 0)
    return true;
  for (std::size_t back = 1; back <= 3 && back <= text.size(); ++back) {
    const auto byte = static_cast<unsigned char>(text[text.size() - back]);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const std::size_t length = byte >= 0xF0 && byte <= 0xF4   ? 4
                               : byte >= 0xE0 && byte <= 0xEF ? 3
                               : byte >= 0xC2 && byte <= 0xDF ? 2
                                                              : 1;
    return length > back;
  }
  return false;
}

}  // namespace

std::string StreamDecoder::push(std::int32_t id) {
  ids_.push_back(id);
  std::string text;
  try {
    text = tokenizer_.decode(ids_);
  } catch (const TokenizerError&) {
    ids_.pop_back();  // the decoder stays usable
    throw;
  }
  if (text.size() <= context_text_.size() ||
      text.compare(0, context_text_.size(), context_text_) != 0 || endsMidCharacter(text))
    return {};
  std::string added = text.substr(context_text_.size());
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(context_));
  context_ = ids_.size();
  context_text_ = tokenizer_.decode(ids_);
  return added;
}

std::string StreamDecoder::finish() {
  std::string text = tokenizer_.decode(ids_);
  std::string rest = text.size() > context_text_.size() ? text.substr(context_text_.size()) : "";
  ids_.clear();
  context_ = 0;
  context_text_.clear();
  return rest;
}

}  // namespace darkroom
