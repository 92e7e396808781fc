// SentencePiece tokenizer.model files (LLaMA-1/2, Mistral, T5, ...) through libsentencepiece,
// reached through libdarkroom_spm (see spm_bridge.cpp for why it is loaded at run time).
#include <dlfcn.h>
#include <unistd.h>

#include <mutex>

#include "darkroom/tokenizer.h"

namespace darkroom {
namespace {

struct Bridge {
  void* (*load)(const char*, char*, std::size_t);
  void (*free)(void*);
  void (*release)(void*);
  int (*encode)(void*, const char*, std::size_t, int**, std::size_t*, char*, std::size_t);
  int (*decode)(void*, const int*, std::size_t, char**, std::size_t*, char*, std::size_t);
  int (*piece_size)(void*);
  int (*bos)(void*);
  int (*eos)(void*);
};

// The module sits next to the executable, or where the build put it, or where
// DARKROOM_SPM_BRIDGE points.
std::vector<std::string> bridgeCandidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("DARKROOM_SPM_BRIDGE")) out.push_back(env);
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) out.push_back((exe.parent_path() / "libdarkroom_spm.so").string());
#ifdef DARKROOM_SPM_BRIDGE_PATH
  out.push_back(DARKROOM_SPM_BRIDGE_PATH);
#endif
  return out;
}

const Bridge& bridge() {
  static std::once_flag once;
  static Bridge b{};
  static std::string failure;
  std::call_once(once, [] {
    void* lib = nullptr;
    std::string tried;
    for (const auto& path : bridgeCandidates()) {
      lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (lib) break;
      tried += "\n  " + path + ": " + dlerror();
    }
    if (!lib) {
      failure = "SentencePiece support (libdarkroom_spm.so) cannot be loaded:" + tried;
      return;
    }
    auto sym = [&](const char* name) {
      void* f = dlsym(lib, name);
      if (!f) failure = std::string("libdarkroom_spm.so lacks ") + name;
      return f;
    };
    b.load = reinterpret_cast<decltype(b.load)>(sym("darkroom_spm_load"));
    b.free = reinterpret_cast<decltype(b.free)>(sym("darkroom_spm_free"));
    b.release = reinterpret_cast<decltype(b.release)>(sym("darkroom_spm_release"));
    b.encode = reinterpret_cast<decltype(b.encode)>(sym("darkroom_spm_encode"));
    b.decode = reinterpret_cast<decltype(b.decode)>(sym("darkroom_spm_decode"));
    b.piece_size = reinterpret_cast<decltype(b.piece_size)>(sym("darkroom_spm_piece_size"));
    b.bos = reinterpret_cast<decltype(b.bos)>(sym("darkroom_spm_bos"));
    b.eos = reinterpret_cast<decltype(b.eos)>(sym("darkroom_spm_eos"));
  });
  if (!failure.empty()) throw TokenizerError(failure);
  return b;
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& file)
      : file_(file.string()), api_(bridge()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) throw TokenizerError(file_ + ": no such file");
    char err[512] = {};
    handle_ = api_.load(file_.c_str(), err, sizeof err);
    if (!handle_) throw TokenizerError(file_ + ": is not a SentencePiece model (" + err + ")");
  }
  ~SentencePieceTokenizer() override { api_.free(handle_); }
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

  std::vector<std::int32_t> encode(std::string_view text) const override {
    int* ids = nullptr;
    std::size_t count = 0;
    char err[512] = {};
    if (!api_.encode(handle_, text.data(), text.size(), &ids, &count, err, sizeof err))
      throw TokenizerError(file_ + ": cannot encode the text (" + err + ")");
    std::vector<std::int32_t> out(ids, ids + count);
    api_.release(ids);
    return out;
  }

  std::string decode(const std::vector<std::int32_t>& ids) const override {
    const int size = api_.piece_size(handle_);
    for (std::int32_t id : ids)
      if (id < 0 || id >= size)
        throw TokenizerError("token id " + std::to_string(id) + " is not in the vocabulary of " +
                             file_);
    std::vector<int> in(ids.begin(), ids.end());
    char* text = nullptr;
    std::size_t len = 0;
    char err[512] = {};
    if (!api_.decode(handle_, in.data(), in.size(), &text, &len, err, sizeof err))
      throw TokenizerError(file_ + ": cannot decode the ids (" + err + ")");
    std::string out(text, len);
    api_.release(text);
    return out;
  }

  std::size_t vocabSize() const override { return static_cast<std::size_t>(api_.piece_size(handle_)); }
  std::optional<std::int32_t> bosId() const override { return idOrNone(api_.bos(handle_)); }
  std::optional<std::int32_t> eosId() const override { return idOrNone(api_.eos(handle_)); }
  std::string name() const override { return "sentencepiece"; }

 private:
  // SentencePiece says -1 for a token the model was trained without.
  static std::optional<std::int32_t> idOrNone(int id) {
    return id >= 0 ? std::optional<std::int32_t>(id) : std::nullopt;
  }

  std::string file_;
  const Bridge& api_;
  void* handle_ = nullptr;
};

}  // namespace

std::unique_ptr<Tokenizer> loadSentencePieceTokenizer(
    const std::filesystem::path& tokenizer_model) {
  return std::make_unique<SentencePieceTokenizer>(tokenizer_model);
}

}  // namespace darkroom
