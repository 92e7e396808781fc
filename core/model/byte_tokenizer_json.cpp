#include "model/byte_tokenizer_json.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "darkroom/tokenizer.h"

namespace darkroom {
namespace {

// GPT-2's printable stand-in for each byte: printable Latin-1 bytes are themselves, the others
// take the code points from U+0100 on, in byte order.
std::string byteSymbol(int byte) {
  static const auto table = [] {
    std::vector<std::uint32_t> cp(256);
    std::uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      cp[std::size_t(b)] = printable ? std::uint32_t(b) : next++;
    }
    return cp;
  }();
  std::uint32_t c = table[std::size_t(byte)];
  std::string utf8;
  if (c < 0x80) {
    utf8 += char(c);
  } else {  // all stand-ins are below U+0800: two bytes
    utf8 += char(0xC0 | (c >> 6));
    utf8 += char(0x80 | (c & 0x3F));
  }
  return utf8;
}

}  // namespace

void writeByteTokenizerJson(const std::filesystem::path& file) {
  using nlohmann::ordered_json;
  ordered_json vocab = ordered_json::object();
  for (int b = 0; b < 256; ++b) vocab[byteSymbol(b)] = b;
  ordered_json added = ordered_json::array();
  const std::pair<const char*, int> specials[] = {
      {"<bos>", byte_tokens::kBos}, {"<eos>", byte_tokens::kEos}, {"<pad>", byte_tokens::kPad}};
  for (const auto& [content, id] : specials)
    added.push_back({{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  ordered_json j;
  j["version"] = "1.0";
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false},
                        {"use_regex", true}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false},
                  {"use_regex", true}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
                {"merges", ordered_json::array()}};
  auto tmp = file;
  tmp += ".partial";
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out.flush()) throw std::runtime_error(tmp.string() + ": write failed");
  }
  std::filesystem::rename(tmp, file);
  // tokenizer_config.json names the special tokens, as Hugging Face folders do.
  std::ofstream config(file.parent_path() / "tokenizer_config.json");
  config << ordered_json{{"bos_token", "<bos>"}, {"eos_token", "<eos>"}, {"pad_token", "<pad>"},
                         {"tokenizer_class", "PreTrainedTokenizerFast"}}
                .dump(2)
         << "\n";
}

}  // namespace darkroom
