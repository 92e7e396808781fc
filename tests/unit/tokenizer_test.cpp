#include "darkroom/tokenizer.h"

#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_util.h"

using namespace darkroom;
using nlohmann::json;
using Ids = std::vector<std::int32_t>;

namespace {

// GPT-2's printable stand-in for a byte, written independently of the tokenizer's own table.
std::string standIn(int byte) {
  int code = byte;
  if (!((byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE)) {
    code = 0x100;
    for (int b = 0; b < byte; ++b)
      if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) ++code;
  }
  if (code < 0x80) return std::string(1, static_cast<char>(code));
  return {static_cast<char>(0xC0 | (code >> 6)), static_cast<char>(0x80 | (code & 0x3F))};
}

// The Split regexes of GPT-2, LLaMA-3 and Qwen2 as their tokenizer.json files spell them.
const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* kLlama3 = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
                      R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* kQwen2 = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
                     R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Merges in rank order; merge r makes token 256 + r.
const std::vector<std::string> kMerges = {
    "3 4", "h e", "l l",  "he ll", "hell o", "Ġ w", "o r", "Ġw or",   "l d", "Ġwor ld",
    "Ġ Ġ", "1 2", "12 3", "' s",   "' S",    "i t", "Ã ©", "! hello", "Ċ Ċ"};
constexpr std::int32_t kAbc = 275;  // in the vocabulary, but no merge makes it
constexpr std::int32_t kEndOfText = 276, kImEnd = 277, kMask = 278, kWord = 279, kAIm = 280;

// A small byte-level tokenizer.json: byte b is token b, then the merges, "abc" and added tokens.
// split_regex empty: a lone ByteLevel pre-tokenizer (GPT-2 style), else a Split before it.
json makeTokenizerJson(const std::string& split_regex = "") {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[standIn(b)] = b;
  for (std::size_t r = 0; r < kMerges.size(); ++r) {
    std::string merged = kMerges[r];
    merged.erase(merged.find(' '), 1);
    vocab[merged] = 256 + static_cast<int>(r);
  }
  vocab["abc"] = kAbc;
  json added = json::array({
      {{"id", kEndOfText}, {"content", "<|endoftext|>"}, {"special", true}},
      {{"id", kImEnd}, {"content", "<|im_end|>"}, {"special", true}, {"normalized", false}},
      {{"id", kMask}, {"content", "<mask>"}, {"special", true}, {"lstrip", true}, {"rstrip", true}},
      {{"id", kWord}, {"content", "<word>"}, {"single_word", true}},
      {{"id", kAIm}, {"content", "a<|im"}, {"normalized", true}},
  });
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}};
  json pre = byte_level;
  if (!split_regex.empty()) {
    byte_level["use_regex"] = false;
    pre = {{"type", "Sequence"},
           {"pretokenizers", json::array({{{"type", "Split"},
                                           {"pattern", {{"Regex", split_regex}}},
                                           {"behavior", "Isolated"},
                                           {"invert", false}},
                                          byte_level})}};
  }
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""},
            {"vocab", vocab},
            {"merges", kMerges}}}};
}

void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::unique_ptr<Tokenizer> loadJson(const test::TempDir& dir, const json& doc) {
  writeFile(dir / "tokenizer.json", doc.dump());
  return loadBpeTokenizer(dir / "tokenizer.json");
}

// The message of the TokenizerError that f throws, or "" when it throws none.
std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const TokenizerError& e) {
    return e.what();
  }
  return "";
}

std::string randomBytes(std::size_t max_length) {
  std::uniform_int_distribution<std::size_t> length(0, max_length);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string s(length(test::rng()), '\0');
  for (char& c : s) c = static_cast<char>(byte(test::rng()));
  return s;
}

// Text built from pieces that stress the pre-tokenizers: runs of spaces and line breaks,
// contractions, digits, accents, CJK, emoji, a no-break space, and whole special tokens.
std::string randomText(std::size_t pieces) {
  static const std::vector<std::string> kPieces = {
      "a", "Z", "hello",  " ", "  ", "\n", "\r\n", "\t",           "'s", "'LL",
      "'", "1", "234567", "!", "?!", ".",  "é",    "日",           "本", "🙂",
      " ", "ß", "x",      "_", "-",  "٣",  "…",    "<|endoftext|>"};
  std::uniform_int_distribution<std::size_t> pick(0, kPieces.size() - 1);
  std::string s;
  for (std::size_t i = 0; i < pieces; ++i) s += kPieces[pick(test::rng())];
  return s;
}

std::string streamAll(const Tokenizer& tokenizer, const Ids& ids) {
  StreamDecoder stream(tokenizer);
  std::string text;
  for (std::int32_t id : ids) text += stream.push(id);
  return text + stream.finish();
}

}  // namespace

// ---- Byte-level BPE ---------------------------------------------------------------------------

TEST(BpeTokenizer, EncodesHandComputedExamplesUnderEachPattern) {
  test::TempDir dir;
  auto gpt2 = loadJson(dir, makeTokenizerJson());
  auto llama3 = loadJson(dir, makeTokenizerJson(kLlama3));
  auto qwen2 = loadJson(dir, makeTokenizerJson(kQwen2));
  auto gpt2_split = loadJson(dir, makeTokenizerJson(kGpt2));
  EXPECT_EQ(gpt2->name(), "bpe");

  for (const Tokenizer* t : {gpt2.get(), llama3.get(), qwen2.get(), gpt2_split.get()}) {
    EXPECT_EQ(t->encode("hello world"), (Ids{260, 265}));
    EXPECT_EQ(t->encode(""), Ids{});
    // Two spaces before a word: the first stands alone, the second goes with the word.
    EXPECT_EQ(t->encode("  spaces"), (Ids{32, 32, 115, 112, 97, 99, 101, 115}));
    EXPECT_EQ(t->encode("a   b"), (Ids{97, 266, 32, 98}));
    EXPECT_EQ(t->encode("hi  "), (Ids{104, 105, 266}));
    EXPECT_EQ(t->encode("it's"), (Ids{271, 269}));
    EXPECT_EQ(t->encode("lll"), (Ids{258, 108}));  // equal ranks merge left to right
    // é is the two bytes Ã© merged; 日本 stays as its six bytes, after the space.
    const Ids hello_nihon = {104, 272, 258, 111, 32, 230, 151, 165, 230, 156, 172};
    EXPECT_EQ(t->encode("héllo 日本"), hello_nihon);
    EXPECT_EQ(t->encode("x<word>"), (Ids{120, 60, 119, 262, 100, 62}));
  }
  for (const Tokenizer* t : {gpt2.get(), gpt2_split.get()}) {
    EXPECT_EQ(t->encode("IT'S"), (Ids{73, 84, 39, 83}));  // contractions are lower case only
    EXPECT_EQ(t->encode("12345"), (Ids{267, 256, 53}));   // one pre-token; "3 4" ranks first
    EXPECT_EQ(t->encode("!hello"), (Ids{33, 260}));
    EXPECT_EQ(t->encode("a\n\nb"), (Ids{97, 10, 10, 98}));
  }
  EXPECT_EQ(llama3->encode("IT'S"), (Ids{73, 84, 270}));
  EXPECT_EQ(llama3->encode("12345"), (Ids{268, 52, 53}));  // "123" "45"
  EXPECT_EQ(qwen2->encode("12345"), (Ids{49, 50, 51, 52, 53}));
  EXPECT_EQ(llama3->encode("!hello"), Ids{273});
  EXPECT_EQ(llama3->encode("a\n\nb"), (Ids{97, 274, 98}));
}

TEST(BpeTokenizer, AcceptsMergesWrittenAsPairs) {
  test::TempDir dir;
  json doc = makeTokenizerJson(kLlama3);
  json pairs = json::array();
  for (const std::string& merge : kMerges)
    pairs.push_back({merge.substr(0, merge.find(' ')), merge.substr(merge.find(' ') + 1)});
  doc["model"]["merges"] = pairs;
  auto t = loadJson(dir, doc);
  EXPECT_EQ(t->encode("hello world 12345"), (Ids{260, 265, 32, 268, 52, 53}));
}

TEST(BpeTokenizer, IgnoreMergesTakesWholeTokens) {
  test::TempDir dir;
  json doc = makeTokenizerJson(kLlama3);
  EXPECT_EQ(loadJson(dir, doc)->encode("abc"), (Ids{97, 98, 99}));
  doc["model"]["ignore_merges"] = true;
  auto t = loadJson(dir, doc);
  EXPECT_EQ(t->encode("abc"), Ids{kAbc});
  EXPECT_EQ(t->encode("hello"), Ids{260});
}

TEST(BpeTokenizer, AddPrefixSpaceStartsTheTextWithASpace) {
  test::TempDir dir;
  json doc = makeTokenizerJson();
  doc["pre_tokenizer"]["add_prefix_space"] = true;
  auto t = loadJson(dir, doc);
  EXPECT_EQ(t->encode("world"), Ids{265});
  EXPECT_EQ(t->encode(" world"), Ids{265});
  EXPECT_EQ(t->decode(t->encode("world")), " world");  // as in Hugging Face: the space stays
}

TEST(BpeTokenizer, AddedTokensAreCutOutBeforePreTokenizing) {
  test::TempDir dir;
  auto t = loadJson(dir, makeTokenizerJson(kLlama3));
  EXPECT_EQ(t->encode("a<|endoftext|>b"), (Ids{97, kEndOfText, 98}));
  EXPECT_EQ(t->encode(" world<|endoftext|> world"), (Ids{265, kEndOfText, 265}));
  EXPECT_EQ(t->encode("hello<|endoftext|><|im_end|>"), (Ids{260, kEndOfText, kImEnd}));
  EXPECT_EQ(t->encode("<|endoftext|"),
            (Ids{60, 124, 101, 110, 100, 111, 102, 116, 101, 120, 116, 124}));
  // lstrip/rstrip swallow the spaces around <mask>.
  EXPECT_EQ(t->encode("a <mask>  b"), (Ids{97, kMask, 98}));
  // single_word: only where no letter, digit or _ touches it.
  EXPECT_EQ(t->encode("<word>"), Ids{kWord});
  EXPECT_EQ(t->encode(" <word> "), (Ids{32, kWord, 32}));
  EXPECT_EQ(t->encode("_<word>"), (Ids{95, 60, 119, 262, 100, 62}));
  // Tokens matched on raw text (normalized: false) go first, as in Hugging Face: "a<|im" loses
  // to "<|im_end|>" though it starts earlier, and wins where that is absent.
  EXPECT_EQ(t->encode("a<|im_end|>"), (Ids{97, kImEnd}));
  EXPECT_EQ(t->encode("a<|imx"), (Ids{kAIm, 120}));
  EXPECT_EQ(t->decode({kEndOfText, 260, kImEnd}), "<|endoftext|>hello<|im_end|>");
}

TEST(BpeTokenizer, RoundTripsRandomBytesAndText) {
  test::TempDir dir;
  for (const std::string& regex : {std::string(), std::string(kLlama3), std::string(kQwen2)}) {
    auto t = loadJson(dir, makeTokenizerJson(regex));
    for (int i = 0; i < 300; ++i) {
      std::string bytes = randomBytes(64);  // invalid UTF-8 more often than not
      ASSERT_EQ(t->decode(t->encode(bytes)), bytes);
      std::string text = randomText(20);
      ASSERT_EQ(t->decode(t->encode(text)), text);
    }
  }
}

TEST(BpeTokenizer, EncodesLongPreTokensAndFromSeveralThreads) {
  test::TempDir dir;
  auto t = loadJson(dir, makeTokenizerJson());
  // One pre-token of 200000 letters: merging must not be quadratic.
  std::string word;
  for (int i = 0; i < 50000; ++i) word += "hell";
  EXPECT_EQ(t->encode(word), Ids(50000, 259));

  std::string text = randomText(2000);
  const Ids expected = t->encode(text);
  std::vector<Ids> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results) threads.emplace_back([&] { result = t->encode(text); });
  for (auto& thread : threads) thread.join();
  for (const Ids& result : results) EXPECT_EQ(result, expected);
}

TEST(BpeTokenizer, DecodeRefusesUnknownIds) {
  test::TempDir dir;
  auto t = loadJson(dir, makeTokenizerJson());
  EXPECT_EQ(t->vocabSize(), 281u);
  EXPECT_EQ(t->decode({kAIm}), "a<|im");
  EXPECT_NE(errorOf([&] { t->decode({281}); }).find("token id 281"), std::string::npos);
  EXPECT_FALSE(errorOf([&] { t->decode({-1}); }).empty());
}

TEST(BpeTokenizer, BosAndEosComeFromTokenizerConfig) {
  test::TempDir dir;
  auto guessed = loadJson(dir, makeTokenizerJson());
  EXPECT_EQ(guessed->bosId(), kEndOfText);  // GPT-2: <|endoftext|> is both
  EXPECT_EQ(guessed->eosId(), kEndOfText);

  writeFile(dir / "tokenizer_config.json", R"({"model_max_length": 1024})");
  EXPECT_EQ(loadJson(dir, makeTokenizerJson())->eosId(), kEndOfText);

  writeFile(dir / "tokenizer_config.json",
            R"({"bos_token": null, "eos_token": {"content": "<|im_end|>", "special": true}})");
  auto configured = loadJson(dir, makeTokenizerJson());
  EXPECT_EQ(configured->bosId(), std::nullopt);
  EXPECT_EQ(configured->eosId(), kImEnd);

  writeFile(dir / "tokenizer_config.json", R"({"eos_token": "<|eot|>"})");
  std::string error = errorOf([&] { loadJson(dir, makeTokenizerJson()); });
  EXPECT_NE(error.find("tokenizer_config.json: eos_token is \"<|eot|>\""), std::string::npos)
      << error;
}

TEST(BpeTokenizer, MalformedFilesSayWhatAndWhere) {
  test::TempDir dir;
  const auto errorFor = [&](const std::function<void(json&)>& spoil) {
    json doc = makeTokenizerJson(kLlama3);
    spoil(doc);
    return errorOf([&] { loadJson(dir, doc); });
  };
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& d) { d["model"]["type"] = "WordPiece"; }, "model.type is \"WordPiece\""},
      {[](json& d) { d["model"].erase("vocab"); }, "model.vocab is missing"},
      {[](json& d) { d["model"]["vocab"]["hello"] = "x"; },
       "model.vocab[\"hello\"] is not a token id"},
      {[](json& d) { d["model"]["vocab"].erase("A"); }, "model.vocab has no token for byte 0x41"},
      {[](json& d) { d["model"]["vocab"]["abc"] = 97; },
       "model.vocab gives id 97 to more than one"},
      {[](json& d) { d["model"]["merges"][12] = 5; },
       "model.merges[12] is neither \"a b\" nor [a, b]"},
      {[](json& d) { d["model"]["merges"][3] = "h e l"; }, "model.merges[3] is neither"},
      {[](json& d) { d["model"]["merges"][3] = json::array({"h"}); }, "model.merges[3] is neither"},
      {[](json& d) { d["model"]["merges"][0] = "q z"; },
       "model.merges[0] needs \"qz\", which model.vocab lacks"},
      {[](json& d) { d["model"]["end_of_word_suffix"] = "</w>"; },
       "model.end_of_word_suffix is set"},
      {[](json& d) { d["added_tokens"][1]["id"] = "x"; }, "added_tokens[1].id is not a token id"},
      {[](json& d) { d["added_tokens"][0].erase("content"); },
       "added_tokens[0].content is missing"},
      {[](json& d) { d["added_tokens"][0]["lstrip"] = 1; },
       "added_tokens[0].lstrip is not true or false"},
      {[](json& d) {
         d["normalizer"] = {{"type", "Lowercase"}};
       },
       "normalizer.type is \"Lowercase\""},
      {[](json& d) { d["decoder"] = nullptr; }, "decoder.type is \"null\""},
      {[](json& d) {
         d["pre_tokenizer"] = {{"type", "Metaspace"}};
       },
       "pre_tokenizer.type is \"Metaspace\""},
      {[](json& d) { d["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+"; },
       "pre_tokenizer.pretokenizers[0].pattern.Regex is \"\\\\w+\", not a pattern Darkroom knows"},
      {[](json& d) { d["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; },
       "pre_tokenizer.pretokenizers[0].behavior is \"Removed\""},
      {[](json& d) { d["pre_tokenizer"]["pretokenizers"].erase(1); },
       "pre_tokenizer.pretokenizers[0].type is \"Split\"; expected Splits followed by one "
       "ByteLevel"},
      {[](json& d) { d = json::array(); }, "the top level is not an object"},
  };
  for (const auto& [spoil, expected] : cases) {
    std::string error = errorFor(spoil);
    EXPECT_NE(error.find((dir / "tokenizer.json").string() + ": " + expected), std::string::npos)
        << "expected \"" << expected << "\", got \"" << error << "\"";
  }

  writeFile(dir / "tokenizer.json", "{\"model\": ");
  EXPECT_NE(errorOf([&] { loadBpeTokenizer(dir / "tokenizer.json"); }).find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(
      errorOf([&] { loadBpeTokenizer(dir / "absent.json"); }).find("absent.json: cannot open"),
      std::string::npos);
}

// ---- Streaming --------------------------------------------------------------------------------

TEST(StreamDecoder, HoldsBackSplitCharacters) {
  test::TempDir dir;
  auto t = loadJson(dir, makeTokenizerJson());
  StreamDecoder stream(*t);
  EXPECT_EQ(stream.push(260), "hello");
  EXPECT_EQ(stream.push(32), " ");
  EXPECT_EQ(stream.push(230), "");  // 日 is E6 97 A5
  EXPECT_EQ(stream.push(151), "");
  EXPECT_EQ(stream.push(165), "日");
  EXPECT_EQ(stream.push(230), "");
  EXPECT_FALSE(errorOf([&] { stream.push(999); }).empty());
  EXPECT_EQ(stream.finish(), "\xE6");  // an unfinished character comes out as is at the end
  EXPECT_EQ(stream.push(265), " world");
}

TEST(StreamDecoder, AddsUpToDecodeForRandomIds) {
  test::TempDir dir;
  auto t = loadJson(dir, makeTokenizerJson());
  std::uniform_int_distribution<std::int32_t> id(0, kAIm);
  for (int i = 0; i < 200; ++i) {
    Ids ids(std::uniform_int_distribution<std::size_t>(0, 30)(test::rng()));
    for (auto& x : ids) x = id(test::rng());
    ASSERT_EQ(streamAll(*t, ids), t->decode(ids));
  }
}

// ---- Byte tokenizer ---------------------------------------------------------------------------

TEST(ByteTokenizer, EveryByteIsAToken) {
  auto t = makeByteTokenizer();
  EXPECT_EQ(t->name(), "bytes");
  EXPECT_EQ(t->vocabSize(), 259u);
  EXPECT_EQ(t->bosId(), byte_tokens::kBos);
  EXPECT_EQ(t->eosId(), byte_tokens::kEos);
  EXPECT_EQ(t->encode("A\xFF"), (Ids{65, 255}));
  EXPECT_EQ(t->decode({byte_tokens::kBos, 104, 105, byte_tokens::kPad, byte_tokens::kEos}),
            "<bos>hi<pad><eos>");
  EXPECT_FALSE(errorOf([&] { t->decode({259}); }).empty());
  EXPECT_FALSE(errorOf([&] { t->decode({-1}); }).empty());
  for (int i = 0; i < 200; ++i) {
    std::string bytes = randomBytes(100);
    Ids ids = t->encode(bytes);
    ASSERT_EQ(ids.size(), bytes.size());
    ASSERT_EQ(t->decode(ids), bytes);
    ASSERT_EQ(streamAll(*t, ids), bytes);
  }
}

// ---- SentencePiece ----------------------------------------------------------------------------

class SentencePieceTokenizerTest : public ::testing::Test {
 protected:
  // One tiny BPE model with byte fallback, trained once for the suite.
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    std::ofstream corpus(*dir_ / "corpus.txt");
    const char* words[] = {"the",   "quick", "brown", "fox",  "jumps", "over",  "lazy", "dog",
                           "token", "izer",  "dark",  "room", "hello", "world", "42",   "naïve"};
    std::uniform_int_distribution<std::size_t> pick(0, std::size(words) - 1);
    for (int line = 0; line < 300; ++line) {
      for (int w = 0; w < 8; ++w) corpus << (w ? " " : "") << words[pick(test::rng())];
      corpus << "\n";
    }
    corpus.close();
    auto start = std::chrono::steady_clock::now();
    const std::string prefix = (*dir_ / "sp").string();
    auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + (*dir_ / "corpus.txt").string() + " --model_prefix=" + prefix +
        " --vocab_size=320 --model_type=bpe --byte_fallback=true --character_coverage=1.0"
        " --normalization_rule_name=identity --remove_extra_whitespaces=false"
        " --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --num_threads=1 --minloglevel=2");
    ASSERT_TRUE(status.ok()) << status.ToString();
    train_seconds_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::filesystem::path modelFile() { return *dir_ / "sp.model"; }

  static inline test::TempDir* dir_ = nullptr;
  static inline double train_seconds_ = 0;
};

TEST_F(SentencePieceTokenizerTest, RoundTripsWithBosAndEos) {
  EXPECT_LT(train_seconds_, 2.0);
  auto t = loadSentencePieceTokenizer(modelFile());
  EXPECT_EQ(t->name(), "sentencepiece");
  EXPECT_EQ(t->vocabSize(), 320u);
  EXPECT_EQ(t->bosId(), 1);
  EXPECT_EQ(t->eosId(), 2);
  const std::string text =
      "hello  dark world, 日本 🙂 naïve";  // 日本🙂 only by byte fallback
  Ids ids = t->encode(text);
  EXPECT_EQ(t->decode(ids), text);
  EXPECT_EQ(streamAll(*t, ids), text);
  Ids framed = ids;
  framed.insert(framed.begin(), 1);
  framed.push_back(2);
  EXPECT_EQ(t->decode(framed), "<s>" + text + "</s>");
  EXPECT_EQ(streamAll(*t, framed), "<s>" + text + "</s>");
  EXPECT_FALSE(errorOf([&] { t->decode({320}); }).empty());
}

TEST_F(SentencePieceTokenizerTest, RoundTripsRandomPrintableText) {
  auto t = loadSentencePieceTokenizer(modelFile());
  std::uniform_int_distribution<int> printable(' ', '~');
  for (int i = 0; i < 200; ++i) {
    std::string text(std::uniform_int_distribution<std::size_t>(0, 40)(test::rng()), ' ');
    for (char& c : text) c = static_cast<char>(printable(test::rng()));
    ASSERT_EQ(t->decode(t->encode(text)), text);
  }
}

TEST_F(SentencePieceTokenizerTest, BadModelFilesAreRefused) {
  test::TempDir dir;
  writeFile(dir / "tokenizer.model", "this is not a protobuf");
  std::string error = errorOf([&] { loadSentencePieceTokenizer(dir / "tokenizer.model"); });
  EXPECT_NE(error.find("tokenizer.model: is not a SentencePiece model"), std::string::npos)
      << error;
  error = errorOf([&] { loadSentencePieceTokenizer(dir / "absent.model"); });
  EXPECT_NE(error.find("absent.model: no such file"), std::string::npos) << error;
}

// ---- Choosing the tokenizer of a folder -------------------------------------------------------

TEST_F(SentencePieceTokenizerTest, LoadTokenizerPicksTheFileThatWorks) {
  test::TempDir dir;
  std::string error = errorOf([&] { loadTokenizer(dir.path()); });
  EXPECT_NE(error.find("looked for tokenizer.json and tokenizer.model"), std::string::npos)
      << error;
  EXPECT_NE(errorOf([&] { loadTokenizer(dir / "absent"); }).find("no such folder"),
            std::string::npos);

  std::filesystem::copy_file(modelFile(), dir / "tokenizer.model");
  EXPECT_EQ(loadTokenizer(dir.path())->name(), "sentencepiece");

  // A LLaMA-2 style tokenizer.json (not byte-level) beside it: the .model serves.
  json llama2 = makeTokenizerJson();
  llama2["pre_tokenizer"] = {{"type", "Metaspace"}};
  writeFile(dir / "tokenizer.json", llama2.dump());
  EXPECT_EQ(loadTokenizer(dir.path())->name(), "sentencepiece");

  writeFile(dir / "tokenizer.json", makeTokenizerJson(kQwen2).dump());
  EXPECT_EQ(loadTokenizer(dir.path())->name(), "bpe");

  std::filesystem::remove(dir / "tokenizer.model");
  writeFile(dir / "tokenizer.json", llama2.dump());
  error = errorOf([&] { loadTokenizer(dir.path()); });
  EXPECT_NE(error.find("pre_tokenizer.type is \"Metaspace\""), std::string::npos) << error;
}
