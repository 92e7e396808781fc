// Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, OPT, Qwen2, LLaMA-3). Encoding
// runs the same stages as the `tokenizers` library: added tokens are cut out of the text first,
// the rest is split into pre-tokens by the model's regex (hand-written scanners below, since no
// regex library here knows \p{L}), each pre-token's bytes become GPT-2's printable stand-in
// characters, and those are merged pairwise by rank.
#include "darkroom/tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

namespace darkroom {
namespace {

using nlohmann::json;

// ---- Characters -------------------------------------------------------------------------------

enum class CharClass : std::uint8_t { Letter, Number, Space, Other };
constexpr CharClass kNumber = CharClass::Number;
constexpr CharClass kOther = CharClass::Other;

struct ClassRange {
  char32_t first, last;
  CharClass cls;
};

// \p{L} and \p{N} without a Unicode database: above ASCII every code point is a letter except
// those in these sorted ranges (whitespace is checked before). The ranges are exact (Unicode 14)
// for Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic, Devanagari, Thai, the punctuation and
// symbol blocks, CJK, kana, Hangul, fullwidth forms and emoji. Elsewhere combining marks and the
// digits of other scripts count as letters (about 2% of assigned code points), which moves
// pre-token boundaries only inside text in those scripts; unassigned code points are letters.
constexpr ClassRange kNonLetters[] = {
    {0x80, 0x9F, kOther},        {0xA1, 0xA9, kOther},        {0xAB, 0xB1, kOther},
    {0xB2, 0xB3, kNumber},       {0xB4, 0xB4, kOther},        {0xB6, 0xB8, kOther},
    {0xB9, 0xB9, kNumber},       {0xBB, 0xBB, kOther},        {0xBC, 0xBE, kNumber},
    {0xBF, 0xBF, kOther},        {0xD7, 0xD7, kOther},        {0xF7, 0xF7, kOther},
    {0x2C2, 0x2C5, kOther},      {0x2D2, 0x2DF, kOther},      {0x2E5, 0x2EB, kOther},
    {0x2ED, 0x2ED, kOther},      {0x2EF, 0x36F, kOther},      {0x375, 0x375, kOther},
    {0x37E, 0x37E, kOther},      {0x384, 0x385, kOther},      {0x387, 0x387, kOther},
    {0x3F6, 0x3F6, kOther},      {0x482, 0x489, kOther},      {0x55A, 0x55F, kOther},
    {0x589, 0x58A, kOther},      {0x58D, 0x58F, kOther},      {0x591, 0x5C7, kOther},
    {0x5F3, 0x5F4, kOther},      {0x600, 0x61F, kOther},      {0x64B, 0x65F, kOther},
    {0x660, 0x669, kNumber},     {0x66A, 0x66D, kOther},      {0x670, 0x670, kOther},
    {0x6D4, 0x6D4, kOther},      {0x6D6, 0x6E4, kOther},      {0x6E7, 0x6ED, kOther},
    {0x6F0, 0x6F9, kNumber},     {0x6FD, 0x6FE, kOther},      {0x900, 0x903, kOther},
    {0x93A, 0x93C, kOther},      {0x93E, 0x94F, kOther},      {0x951, 0x957, kOther},
    {0x962, 0x965, kOther},      {0x966, 0x96F, kNumber},     {0x970, 0x970, kOther},
    {0x9E6, 0x9EF, kNumber},     {0xE31, 0xE31, kOther},      {0xE34, 0xE3F, kOther},
    {0xE47, 0xE4F, kOther},      {0xE50, 0xE59, kNumber},     {0xE5A, 0xE5B, kOther},
    {0x2000, 0x206F, kOther},    {0x2070, 0x2070, kNumber},   {0x2074, 0x2079, kNumber},
    {0x207A, 0x207E, kOther},    {0x2080, 0x2089, kNumber},   {0x208A, 0x208E, kOther},
    {0x20A0, 0x2101, kOther},    {0x2103, 0x2106, kOther},    {0x2108, 0x2109, kOther},
    {0x2114, 0x2114, kOther},    {0x2116, 0x2118, kOther},    {0x211E, 0x2123, kOther},
    {0x2125, 0x2125, kOther},    {0x2127, 0x2127, kOther},    {0x2129, 0x2129, kOther},
    {0x212E, 0x212E, kOther},    {0x213A, 0x213B, kOther},    {0x2140, 0x2144, kOther},
    {0x214A, 0x214D, kOther},    {0x214F, 0x214F, kOther},    {0x2150, 0x2182, kNumber},
    {0x2185, 0x2189, kNumber},   {0x218A, 0x245F, kOther},    {0x2460, 0x249B, kNumber},
    {0x249C, 0x24E9, kOther},    {0x24EA, 0x24FF, kNumber},   {0x2500, 0x2775, kOther},
    {0x2776, 0x2793, kNumber},   {0x2794, 0x2BFF, kOther},    {0x2E00, 0x3004, kOther},
    {0x3007, 0x3007, kNumber},   {0x3008, 0x3020, kOther},    {0x3021, 0x3029, kNumber},
    {0x302A, 0x3030, kOther},    {0x3036, 0x3037, kOther},    {0x3038, 0x303A, kNumber},
    {0x303D, 0x303F, kOther},    {0x3099, 0x309C, kOther},    {0x30A0, 0x30A0, kOther},
    {0x30FB, 0x30FB, kOther},    {0x3190, 0x3191, kOther},    {0x3192, 0x3195, kNumber},
    {0x3196, 0x319F, kOther},    {0x31C0, 0x31EF, kOther},    {0x3200, 0x321F, kOther},
    {0x3220, 0x3229, kNumber},   {0x322A, 0x3247, kOther},    {0x3248, 0x324F, kNumber},
    {0x3250, 0x3250, kOther},    {0x3251, 0x325F, kNumber},   {0x3260, 0x327F, kOther},
    {0x3280, 0x3289, kNumber},   {0x328A, 0x32B0, kOther},    {0x32B1, 0x32BF, kNumber},
    {0x32C0, 0x33FF, kOther},    {0x4DC0, 0x4DFF, kOther},    {0xE000, 0xF8FF, kOther},
    {0xFE00, 0xFE6F, kOther},    {0xFF01, 0xFF0F, kOther},    {0xFF10, 0xFF19, kNumber},
    {0xFF1A, 0xFF20, kOther},    {0xFF3B, 0xFF40, kOther},    {0xFF5B, 0xFF65, kOther},
    {0xFFE0, 0xFFFF, kOther},    {0x1D7CE, 0x1D7FF, kNumber}, {0x1F000, 0x1F0FF, kOther},
    {0x1F100, 0x1F10C, kNumber}, {0x1F10D, 0x1FBEF, kOther},  {0x1FBF0, 0x1FBF9, kNumber},
    {0xE0000, 0xE01EF, kOther},  {0xF0000, 0x10FFFF, kOther},
};

// \s as Oniguruma (the regex engine of `tokenizers`) has it: White_Space.
bool isUnicodeSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

CharClass classify(char32_t c) {
  if (isUnicodeSpace(c)) return CharClass::Space;
  if (c < 0x80) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CharClass::Letter;
    return c >= '0' && c <= '9' ? kNumber : kOther;
  }
  const auto* end = std::end(kNonLetters);
  const auto* it = std::upper_bound(std::begin(kNonLetters), end, c,
                                    [](char32_t v, const ClassRange& r) { return v < r.first; });
  if (it != std::begin(kNonLetters) && c <= std::prev(it)->last) return std::prev(it)->cls;
  return CharClass::Letter;
}

// Length of the well-formed UTF-8 sequence at s[pos] and its code point, or 0 if there is none.
std::size_t decodeUtf8(std::string_view s, std::size_t pos, char32_t& code) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[pos + i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) {
    code = b0;
    return 1;
  }
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (pos + len > s.size() || byte(1) < lo || byte(1) > hi) return 0;
  code = b0 & (0xFF >> (len + 1));
  for (std::size_t i = 1; i < len; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  return len;
}

struct Char {
  std::size_t offset;  // in bytes
  char32_t code;
  CharClass cls;
};

// The code points of s. A byte that starts no well-formed sequence stands alone and counts as
// Other, as the U+FFFD a regex engine would see in its place.
std::vector<Char> decodeChars(std::string_view s) {
  std::vector<Char> chars;
  for (std::size_t pos = 0; pos < s.size();) {
    char32_t code = 0xFFFD;
    std::size_t len = decodeUtf8(s, pos, code);
    chars.push_back({pos, code, len ? classify(code) : kOther});
    pos += len ? len : 1;
  }
  return chars;
}

// Bytes of whitespace that s ends with / starts with, and whether it ends / starts with a word
// character (\w, here: letter, number or '_'); for the options of added tokens.
std::size_t trailingSpace(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    std::size_t start = end - 1;
    char32_t code = 0;
    while (start > 0 && end - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
      --start;
    if (decodeUtf8(s, start, code) != end - start || !isUnicodeSpace(code)) break;
    end = start;
  }
  return s.size() - end;
}

std::size_t leadingSpace(std::string_view s) {
  std::size_t pos = 0;
  char32_t code = 0;
  while (pos < s.size()) {
    std::size_t len = decodeUtf8(s, pos, code);
    if (!len || !isUnicodeSpace(code)) break;
    pos += len;
  }
  return pos;
}

bool isWordChar(const Char& c) {
  return c.cls == CharClass::Letter || c.cls == kNumber || c.code == '_';
}

// ---- Pre-tokenizer patterns -------------------------------------------------------------------

enum class Pattern { Gpt2, Llama3, Qwen2 };

// The Split regexes Darkroom implements, compared whole: a pattern that differs in any way would
// cut text differently, so it is refused rather than guessed at.
struct KnownPattern {
  const char* regex;
  Pattern pattern;
};
const KnownPattern kKnownPatterns[] = {
    {R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
     Pattern::Gpt2},
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
     R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     Pattern::Llama3},
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
     R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     Pattern::Qwen2},
};

bool isNewline(char32_t c) { return c == '\r' || c == '\n'; }

std::size_t runEnd(const std::vector<Char>& c, std::size_t k, CharClass cls) {
  while (k < c.size() && c[k].cls == cls) ++k;
  return k;
}

// `'s|'t|'re|'ve|'m|'ll|'d`, optionally ASCII case-insensitive: the length matched at i, or 0.
std::size_t contraction(const std::vector<Char>& c, std::size_t i, bool ignore_case) {
  if (c[i].code != '\'') return 0;
  const auto at = [&](std::size_t k) -> char32_t {
    if (k >= c.size()) return 0;
    char32_t code = c[k].code;
    return ignore_case && code >= 'A' && code <= 'Z' ? code - 'A' + 'a' : code;
  };
  const char32_t a = at(i + 1), b = at(i + 2);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// `\s+(?!\S)|\s+` at i, which is whitespace: a run of several spaces before a word leaves its
// last one to that word.
std::size_t spaceRun(const std::vector<Char>& c, std::size_t i) {
  std::size_t end = runEnd(c, i, CharClass::Space);
  return end < c.size() && end - i > 1 ? end - 1 - i : end - i;
}

// The GPT-2 pattern: the number of characters its first matching alternative takes at i.
std::size_t matchGpt2(const std::vector<Char>& c, std::size_t i) {
  if (std::size_t len = contraction(c, i, false)) return len;
  // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: one run of a class, maybe after one space.
  std::size_t j = c[i].code == ' ' && i + 1 < c.size() ? i + 1 : i;
  if (c[j].cls != CharClass::Space) return runEnd(c, j, c[j].cls) - i;
  return spaceRun(c, i);
}

// The LLaMA-3 pattern (max_digits 3) and Qwen2's (max_digits 1).
std::size_t matchLlama3(const std::vector<Char>& c, std::size_t i, std::size_t max_digits) {
  const std::size_t n = c.size();
  if (std::size_t len = contraction(c, i, true)) return len;
  // `[^\r\n\p{L}\p{N}]?\p{L}+`
  if (c[i].cls == CharClass::Letter) return runEnd(c, i, CharClass::Letter) - i;
  if (c[i].cls != kNumber && !isNewline(c[i].code) && i + 1 < n &&
      c[i + 1].cls == CharClass::Letter)
    return runEnd(c, i + 1, CharClass::Letter) - i;
  // `\p{N}{1,3}`
  if (c[i].cls == kNumber) {
    std::size_t k = i;
    while (k < n && k - i < max_digits && c[k].cls == kNumber) ++k;
    return k - i;
  }
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  std::size_t j = c[i].code == ' ' && i + 1 < n && c[i + 1].cls == kOther ? i + 1 : i;
  if (c[j].cls == kOther) {
    std::size_t k = runEnd(c, j, kOther);
    while (k < n && isNewline(c[k].code)) ++k;
    return k - i;
  }
  // Whitespace from here on. `\s*[\r\n]+`: up to the run's last line break.
  for (std::size_t k = runEnd(c, i, CharClass::Space); k > i; --k)
    if (isNewline(c[k - 1].code)) return k - i;
  return spaceRun(c, i);
}

void splitBy(Pattern pattern, std::string_view text, std::vector<std::string>& out) {
  const std::vector<Char> chars = decodeChars(text);
  for (std::size_t i = 0; i < chars.size();) {
    std::size_t len = pattern == Pattern::Gpt2     ? matchGpt2(chars, i)
                      : pattern == Pattern::Llama3 ? matchLlama3(chars, i, 3)
                                                   : matchLlama3(chars, i, 1);
    std::size_t end = i + len < chars.size() ? chars[i + len].offset : text.size();
    out.emplace_back(text.substr(chars[i].offset, end - chars[i].offset));
    i += len;
  }
}

// ---- Byte-level stand-ins ---------------------------------------------------------------------

// GPT-2 shows every byte as a printable character: printable Latin-1 bytes as themselves, the
// other 68 as U+0100 onwards in byte order. Each entry is the UTF-8 of a byte's stand-in.
std::array<std::string, 256> makeByteChars() {
  std::array<std::string, 256> chars;
  char32_t next = 0x100;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    char32_t code = printable ? static_cast<char32_t>(b) : next++;
    // Every stand-in is below U+0800: two UTF-8 bytes at most.
    chars[b] = code < 0x80 ? std::string(1, static_cast<char>(code))
                           : std::string{static_cast<char>(0xC0 | (code >> 6)),
                                         static_cast<char>(0x80 | (code & 0x3F))};
  }
  return chars;
}

const std::array<std::string, 256>& byteChars() {
  static const std::array<std::string, 256> chars = makeByteChars();
  return chars;
}

// The bytes a vocabulary token stands for. Like the ByteLevel decoder of `tokenizers`, a token
// with a character that is no stand-in is taken as its own UTF-8.
std::string tokenBytes(std::string_view token) {
  static const std::unordered_map<std::string, char> to_byte = [] {
    std::unordered_map<std::string, char> map;
    for (int b = 0; b < 256; ++b) map.emplace(byteChars()[b], static_cast<char>(b));
    return map;
  }();
  std::string bytes;
  for (std::size_t pos = 0; pos < token.size();) {
    char32_t code = 0;
    std::size_t len = decodeUtf8(token, pos, code);
    auto it = len ? to_byte.find(std::string(token.substr(pos, len))) : to_byte.end();
    if (it == to_byte.end()) return std::string(token);
    bytes += it->second;
    pos += len;
  }
  return bytes;
}

// ---- Reading the JSON -------------------------------------------------------------------------

// Every error names the file and the JSON path of the offending value.
class JsonReader {
 public:
  explicit JsonReader(const std::filesystem::path& file) : file_(file.string()) {}

  json parse(const std::filesystem::path& file) const {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw TokenizerError(file_ + ": cannot open (no such file?)");
    try {
      return json::parse(in);
    } catch (const json::exception& e) {
      throw TokenizerError(file_ + ": not valid JSON: " + e.what());
    }
  }

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw TokenizerError(file_ + ": " + (path.empty() ? "the top level" : path) + " " + what);
  }

  // object[key], where path names object; null when absent.
  const json& find(const json& object, const std::string& path, const char* key) const {
    static const json null;
    if (!object.is_object()) fail(path, "is not an object");
    auto it = object.find(key);
    return it == object.end() ? null : *it;
  }

  const json& need(const json& object, const std::string& path, const char* key) const {
    const json& value = find(object, path, key);
    if (value.is_null()) fail(join(path, key), "is missing");
    return value;
  }

  std::string string(const json& value, const std::string& path) const {
    if (!value.is_string()) fail(path, "is not a string");
    return value.get<std::string>();
  }

  bool flag(const json& object, const std::string& path, const char* key, bool fallback) const {
    const json& value = find(object, path, key);
    if (value.is_null()) return fallback;
    if (!value.is_boolean()) fail(join(path, key), "is not true or false");
    return value.get<bool>();
  }

  std::int32_t id(const json& value, const std::string& path) const {
    // Far above any real vocabulary; keeps a corrupt id from sizing the decode table.
    constexpr std::int64_t kMaxId = 1 << 24;
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
        value.get<std::int64_t>() >= kMaxId)
      fail(path, "is not a token id (an integer from 0 to " + std::to_string(kMaxId - 1) + ")");
    return static_cast<std::int32_t>(value.get<std::int64_t>());
  }

  // The "type" of a component, e.g. pre_tokenizer.type; "null" when the component is null.
  std::string type(const json& component, const std::string& path) const {
    if (component.is_null()) return "null";
    return string(need(component, path, "type"), join(path, "type"));
  }

  static std::string join(const std::string& path, const char* key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string index(const std::string& path, std::size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

 private:
  std::string file_;
};

std::string jsonQuoted(const std::string& s) { return json(s).dump(); }

// ---- The tokenizer ----------------------------------------------------------------------------

struct AddedToken {
  std::string content;
  std::int32_t id;
  bool single_word, lstrip, rstrip, normalized, special;
};

struct PreTokenizer {
  std::vector<Pattern> splits;  // Split stages, in order
  bool add_prefix_space = false;
  bool gpt2_split = true;  // ByteLevel's own regex (its use_regex)
};

struct Merge {
  std::int32_t rank;
  std::int32_t merged;
};

class BpeTokenizer final : public Tokenizer {
 public:
  // config_file: tokenizer_config.json, which need not exist.
  BpeTokenizer(const json& doc, const JsonReader& reader,
               const std::filesystem::path& config_file) {
    readModel(reader.need(doc, "", "model"), reader);
    readAddedTokens(reader.find(doc, "", "added_tokens"), reader);
    readPipeline(doc, reader);
    buildDecodeTable(reader);
    readBosEos(config_file);
  }

  std::vector<std::int32_t> encode(std::string_view text) const override {
    std::vector<Segment> segments{{text, -1}};
    // Special tokens match the raw text and take precedence; the others match normalized text,
    // which here is the same text (see readPipeline).
    cutAddedTokens(segments, false);
    cutAddedTokens(segments, true);
    std::vector<std::int32_t> ids;
    for (const Segment& segment : segments) {
      if (segment.id >= 0)
        ids.push_back(segment.id);
      else
        encodeText(segment.text, ids);
    }
    return ids;
  }

  std::string decode(const std::vector<std::int32_t>& ids) const override {
    std::string text;
    for (std::int32_t id : ids) {
      if (id < 0 || static_cast<std::size_t>(id) >= bytes_.size() || !bytes_[id])
        throw TokenizerError("token id " + std::to_string(id) + " is not in the vocabulary");
      text += *bytes_[id];
    }
    return text;
  }

  std::size_t vocabSize() const override { return bytes_.size(); }
  std::optional<std::int32_t> bosId() const override { return bos_; }
  std::optional<std::int32_t> eosId() const override { return eos_; }
  std::string name() const override { return "bpe"; }

 private:
  struct Segment {
    std::string_view text;
    std::int32_t id;  // an added token's id, or -1 for text still to encode
  };

  void readModel(const json& model, const JsonReader& reader) {
    std::string type = reader.type(model, "model");
    if (type != "BPE")
      reader.fail("model.type", "is " + jsonQuoted(type) + "; only \"BPE\" is read");
    // Qwen2 writes "" for these; any real affix belongs to non-byte-level (WordPiece-like) BPE.
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const json& affix = reader.find(model, "model", key);
      if (!affix.is_null() && affix != "")
        reader.fail(JsonReader::join("model", key), "is set; byte-level BPE has none");
    }
    // model.dropout is ignored on purpose: it randomizes merges for training, and encoding here
    // is meant to be deterministic. unk_token/byte_fallback never apply: every byte has a token.
    ignore_merges_ = reader.flag(model, "model", "ignore_merges", false);

    const json& vocab = reader.need(model, "model", "vocab");
    if (!vocab.is_object()) reader.fail("model.vocab", "is not an object");
    for (const auto& [token, value] : vocab.items()) {
      std::int32_t id = reader.id(value, "model.vocab[" + jsonQuoted(token) + "]");
      vocab_.emplace(token, id);
    }
    for (int b = 0; b < 256; ++b) {
      auto it = vocab_.find(byteChars()[b]);
      if (it == vocab_.end()) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", b);
        reader.fail("model.vocab", std::string("has no token for byte ") + hex + " (" +
                                       jsonQuoted(byteChars()[b]) + "), so it is not byte-level");
      }
      byte_ids_[b] = it->second;
    }

    const json& merges = reader.need(model, "model", "merges");
    if (!merges.is_array()) reader.fail("model.merges", "is not an array");
    for (std::size_t i = 0; i < merges.size(); ++i) {
      std::string path = JsonReader::index("model.merges", i);
      auto [left, right] = mergePair(merges[i], path, reader);
      std::int32_t a = vocabId(left, path, reader), b = vocabId(right, path, reader);
      std::int32_t merged = vocabId(left + right, path, reader);
      // A repeated pair keeps its first (best) rank.
      merges_.emplace(pairKey(a, b), Merge{static_cast<std::int32_t>(i), merged});
    }
  }

  // Older files write a merge as "a b", newer ones as ["a", "b"].
  static std::pair<std::string, std::string> mergePair(const json& merge, const std::string& path,
                                                       const JsonReader& reader) {
    if (merge.is_string()) {
      const std::string& s = merge.get_ref<const std::string&>();
      std::size_t space = s.find(' ');
      if (space != std::string::npos && space > 0 && space + 1 < s.size() &&
          s.find(' ', space + 1) == std::string::npos)
        return {s.substr(0, space), s.substr(space + 1)};
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string() && merge[0] != "" && merge[1] != "") {
      return {merge[0].get<std::string>(), merge[1].get<std::string>()};
    }
    reader.fail(path, "is neither \"a b\" nor [a, b]");
  }

  std::int32_t vocabId(const std::string& token, const std::string& path,
                       const JsonReader& reader) const {
    auto it = vocab_.find(token);
    if (it == vocab_.end())
      reader.fail(path, "needs " + jsonQuoted(token) + ", which model.vocab lacks");
    return it->second;
  }

  static std::uint64_t pairKey(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint32_t>(b);
  }

  void readAddedTokens(const json& list, const JsonReader& reader) {
    if (list.is_null()) return;
    if (!list.is_array()) reader.fail("added_tokens", "is not an array");
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string path = JsonReader::index("added_tokens", i);
      const json& entry = list[i];
      AddedToken token;
      token.id = reader.id(reader.need(entry, path, "id"), JsonReader::join(path, "id"));
      token.content =
          reader.string(reader.need(entry, path, "content"), JsonReader::join(path, "content"));
      token.special = reader.flag(entry, path, "special", false);
      token.single_word = reader.flag(entry, path, "single_word", false);
      token.lstrip = reader.flag(entry, path, "lstrip", false);
      token.rstrip = reader.flag(entry, path, "rstrip", false);
      token.normalized = reader.flag(entry, path, "normalized", !token.special);
      if (token.content.empty()) continue;  // `tokenizers` ignores these too
      added_.push_back(std::move(token));
    }
    // Leftmost-longest matching: per first byte, longest candidates first.
    for (std::size_t i = 0; i < added_.size(); ++i) {
      const AddedToken& token = added_[i];
      by_first_byte_[token.normalized][static_cast<unsigned char>(token.content[0])].push_back(i);
    }
    for (auto& table : by_first_byte_)
      for (auto& candidates : table)
        std::stable_sort(candidates.begin(), candidates.end(), [&](std::size_t a, std::size_t b) {
          return added_[a].content.size() > added_[b].content.size();
        });
  }

  void readPipeline(const json& doc, const JsonReader& reader) {
    // Text in NFC already (nearly all text) is unchanged by NFC, so it is passed through as is;
    // decomposed accents would tokenize differently from `tokenizers`.
    const json& normalizer = reader.find(doc, "", "normalizer");
    std::string type = reader.type(normalizer, "normalizer");
    if (type != "null" && type != "NFC")
      reader.fail("normalizer.type", "is " + jsonQuoted(type) + "; only none or NFC is supported");

    const json& decoder = reader.find(doc, "", "decoder");
    type = reader.type(decoder, "decoder");
    if (type != "ByteLevel")
      reader.fail("decoder.type", "is " + jsonQuoted(type) + "; only ByteLevel is supported");

    // A lone ByteLevel (GPT-2, OPT), or a Sequence of Splits ending in ByteLevel (LLaMA-3, Qwen2).
    const json& pre = reader.find(doc, "", "pre_tokenizer");
    type = reader.type(pre, "pre_tokenizer");
    if (type == "ByteLevel") {
      readByteLevel(pre, "pre_tokenizer", reader);
      return;
    }
    if (type != "Sequence")
      reader.fail("pre_tokenizer.type", "is " + jsonQuoted(type) +
                                            "; only ByteLevel or a Sequence of Split and ByteLevel "
                                            "is supported");
    const json& stages = reader.need(pre, "pre_tokenizer", "pretokenizers");
    if (!stages.is_array() || stages.empty())
      reader.fail("pre_tokenizer.pretokenizers", "is not a non-empty array");
    for (std::size_t i = 0; i < stages.size(); ++i) {
      std::string path = JsonReader::index("pre_tokenizer.pretokenizers", i);
      std::string stage = reader.type(stages[i], path);
      if (stage == "ByteLevel" && i + 1 == stages.size())
        readByteLevel(stages[i], path, reader);
      else if (stage == "Split" && i + 1 < stages.size())
        pre_.splits.push_back(readSplit(stages[i], path, reader));
      else
        reader.fail(JsonReader::join(path, "type"),
                    "is " + jsonQuoted(stage) + "; expected Splits followed by one ByteLevel");
    }
  }

  void readByteLevel(const json& stage, const std::string& path, const JsonReader& reader) {
    pre_.add_prefix_space = reader.flag(stage, path, "add_prefix_space", true);
    pre_.gpt2_split = reader.flag(stage, path, "use_regex", true);
  }

  static Pattern readSplit(const json& stage, const std::string& path, const JsonReader& reader) {
    std::string behavior =
        reader.string(reader.need(stage, path, "behavior"), JsonReader::join(path, "behavior"));
    if (behavior != "Isolated")
      reader.fail(JsonReader::join(path, "behavior"),
                  "is " + jsonQuoted(behavior) + "; only \"Isolated\" is supported");
    if (reader.flag(stage, path, "invert", false))
      reader.fail(JsonReader::join(path, "invert"), "is true; only false is supported");
    std::string pattern_path = JsonReader::join(path, "pattern");
    const json& regex = reader.find(reader.need(stage, path, "pattern"), pattern_path, "Regex");
    std::string text = reader.string(regex, JsonReader::join(pattern_path, "Regex"));
    for (const KnownPattern& known : kKnownPatterns)
      if (text == known.regex) return known.pattern;
    reader.fail(
        JsonReader::join(pattern_path, "Regex"),
        "is " + jsonQuoted(text) + ", not a pattern Darkroom knows (GPT-2, LLaMA-3, Qwen2)");
  }

  std::optional<std::int32_t> tokenId(const std::string& content) const {
    for (const AddedToken& token : added_)
      if (token.content == content) return token.id;
    auto it = vocab_.find(content);
    if (it != vocab_.end()) return it->second;
    return std::nullopt;
  }

  // BOS/EOS from tokenizer_config.json, where transformers keeps them: a string, an object with
  // a "content", or null for none. Without the file or the key, well-known names are looked for.
  void readBosEos(const std::filesystem::path& config_file) {
    const auto known = [&](std::initializer_list<const char*> names) {
      for (const char* name : names)
        for (const AddedToken& token : added_)
          if (token.special && token.content == name) return std::optional<std::int32_t>(token.id);
      return std::optional<std::int32_t>();
    };
    bos_ = known({"<|begin_of_text|>", "<s>", "<|endoftext|>"});
    eos_ = known({"<|end_of_text|>", "</s>", "<|endoftext|>"});
    if (!std::filesystem::exists(config_file)) return;
    JsonReader reader(config_file);
    const json config = reader.parse(config_file);
    if (!config.is_object()) reader.fail("", "is not an object");
    for (auto [key, id] : {std::pair{"bos_token", &bos_}, std::pair{"eos_token", &eos_}}) {
      auto entry = config.find(key);
      if (entry == config.end()) continue;
      std::string path = key;
      const json* value = &*entry;
      if (entry->is_object()) {
        value = &reader.need(*entry, path, "content");
        path += ".content";
      }
      *id = std::nullopt;
      if (value->is_null()) continue;
      std::string content = reader.string(*value, path);
      *id = tokenId(content);
      if (!*id) reader.fail(path, "is " + jsonQuoted(content) + ", which tokenizer.json lacks");
    }
  }

  // An added token may reuse a vocabulary id (usually with the same text) and then wins, as in
  // `tokenizers`; two vocabulary tokens with one id would make decoding ambiguous.
  void buildDecodeTable(const JsonReader& reader) {
    std::int32_t max_id = -1;
    for (const auto& entry : vocab_) max_id = std::max(max_id, entry.second);
    for (const AddedToken& token : added_) max_id = std::max(max_id, token.id);
    bytes_.resize(static_cast<std::size_t>(max_id) + 1);
    for (const auto& [token, id] : vocab_) {
      if (bytes_[id])
        reader.fail("model.vocab", "gives id " + std::to_string(id) + " to more than one token");
      bytes_[id] = tokenBytes(token);
    }
    for (const AddedToken& token : added_) bytes_[token.id] = token.content;
  }

  // Splits the text segments around the added tokens of one kind (normalized or not), the way
  // `tokenizers` does: leftmost-longest, honouring single_word, lstrip and rstrip.
  void cutAddedTokens(std::vector<Segment>& segments, bool normalized) const {
    const auto& table = by_first_byte_[normalized];
    std::vector<Segment> out;
    for (const Segment& segment : segments) {
      if (segment.id >= 0) {
        out.push_back(segment);
        continue;
      }
      std::string_view s = segment.text;
      std::size_t done = 0;  // s[0, done) is already in out
      for (std::size_t pos = 0; pos < s.size();) {
        const AddedToken* found = nullptr;
        for (std::size_t i : table[static_cast<unsigned char>(s[pos])]) {
          if (s.compare(pos, added_[i].content.size(), added_[i].content) == 0) {
            found = &added_[i];
            break;
          }
        }
        if (!found) {
          ++pos;
          continue;
        }
        std::size_t start = pos, stop = pos + found->content.size();
        pos = stop;
        if (found->single_word &&
            (endsWithWord(s.substr(0, start)) || startsWithWord(s.substr(stop))))
          continue;
        if (found->lstrip) start = std::max(done, start - trailingSpace(s.substr(0, start)));
        if (found->rstrip) pos = stop = stop + leadingSpace(s.substr(stop));
        if (done < start) out.push_back({s.substr(done, start - done), -1});
        out.push_back({{}, found->id});
        done = stop;
      }
      if (done < s.size()) out.push_back({s.substr(done), -1});
    }
    segments.swap(out);
  }

  static bool startsWithWord(std::string_view s) {
    if (s.empty()) return false;
    return isWordChar(decodeChars(s.substr(0, std::min<std::size_t>(4, s.size())))[0]);
  }

  static bool endsWithWord(std::string_view s) {
    if (s.empty()) return false;
    return isWordChar(decodeChars(s.substr(s.size() - std::min<std::size_t>(4, s.size()))).back());
  }

  // Pre-tokenizes text that holds no added token and appends the BPE ids of each pre-token.
  void encodeText(std::string_view text, std::vector<std::int32_t>& ids) const {
    std::vector<std::string> pieces{std::string(text)};
    const auto split = [&](Pattern pattern) {
      std::vector<std::string> out;
      for (const std::string& piece : pieces) splitBy(pattern, piece, out);
      pieces.swap(out);
    };
    for (Pattern pattern : pre_.splits) split(pattern);
    if (pre_.add_prefix_space)
      for (std::string& piece : pieces)
        if (piece[0] != ' ') piece.insert(0, 1, ' ');
    if (pre_.gpt2_split) split(Pattern::Gpt2);
    for (const std::string& piece : pieces) encodePiece(piece, ids);
  }

  void encodePiece(const std::string& piece, std::vector<std::int32_t>& ids) const {
    if (piece.size() == 1) {
      ids.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(cache_mutex_);
      auto it = cache_.find(piece);
      if (it != cache_.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<std::int32_t> result = mergePiece(piece);
    ids.insert(ids.end(), result.begin(), result.end());
    std::lock_guard<std::mutex> lock(cache_mutex_);
    // Bounded so that a long session over varied text cannot grow it without end.
    if (cache_.size() >= kCacheLimit) cache_.clear();
    cache_.emplace(piece, std::move(result));
  }

  std::vector<std::int32_t> mergePiece(const std::string& piece) const {
    if (ignore_merges_) {
      // LLaMA-3: a pre-token that is a token as a whole is taken as is.
      std::string chars;
      for (char byte : piece) chars += byteChars()[static_cast<unsigned char>(byte)];
      auto it = vocab_.find(chars);
      if (it != vocab_.end()) return {it->second};
    }
    // Symbols in a linked list; the heap holds candidate merges ordered by rank, then position,
    // and entries made stale by an earlier merge are skipped when they come up.
    struct Symbol {
      std::int32_t id, prev, next;  // id -1: merged into its left neighbour
    };
    struct Candidate {
      std::int32_t rank, left, left_id, right_id, merged;
      bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : left > o.left;
      }
    };
    const auto n = static_cast<std::int32_t>(piece.size());
    std::vector<Symbol> symbols(n);
    for (std::int32_t i = 0; i < n; ++i)
      symbols[i] = {byte_ids_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
    const auto consider = [&](std::int32_t left) {
      std::int32_t right = symbols[left].next;
      if (right < 0) return;
      auto it = merges_.find(pairKey(symbols[left].id, symbols[right].id));
      if (it != merges_.end())
        heap.push({it->second.rank, left, symbols[left].id, symbols[right].id, it->second.merged});
    };
    for (std::int32_t i = 0; i + 1 < n; ++i) consider(i);
    while (!heap.empty()) {
      Candidate c = heap.top();
      heap.pop();
      Symbol& left = symbols[c.left];
      if (left.id != c.left_id || left.next < 0 || symbols[left.next].id != c.right_id) continue;
      Symbol& right = symbols[left.next];
      left.id = c.merged;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = c.left;
      right.id = -1;
      if (left.prev >= 0) consider(left.prev);
      consider(c.left);
    }
    std::vector<std::int32_t> result;
    for (std::int32_t i = 0; i >= 0; i = symbols[i].next) result.push_back(symbols[i].id);
    return result;
  }

  static constexpr std::size_t kCacheLimit = 1 << 16;

  std::unordered_map<std::string, std::int32_t> vocab_;  // token in stand-in characters -> id
  std::unordered_map<std::uint64_t, Merge> merges_;      // pairKey(left, right) -> merge
  std::array<std::int32_t, 256> byte_ids_{};
  bool ignore_merges_ = false;
  std::vector<AddedToken> added_;
  std::array<std::array<std::vector<std::size_t>, 256>, 2> by_first_byte_;  // [normalized][byte]
  PreTokenizer pre_;
  std::vector<std::optional<std::string>> bytes_;  // id -> bytes; empty where no token has the id
  std::optional<std::int32_t> bos_, eos_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>> cache_;  // pre-token -> ids
};

}  // namespace

std::unique_ptr<Tokenizer> loadBpeTokenizer(const std::filesystem::path& tokenizer_json) {
  JsonReader reader(tokenizer_json);
  return std::make_unique<BpeTokenizer>(reader.parse(tokenizer_json), reader,
                                        tokenizer_json.parent_path() / "tokenizer_config.json");
}

}  // namespace darkroom
