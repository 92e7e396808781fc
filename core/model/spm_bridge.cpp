// libdarkroom_spm: SentencePiece behind a C interface, loaded at run time with RTLD_DEEPBIND.
//
// Why: Debian's libsentencepiece carries its own copy of protobuf-lite, and LibTorch loads the
// full libprotobuf; in one symbol scope the two collide and the process crashes while loading.
// Opened with dlopen(RTLD_LOCAL | RTLD_DEEPBIND), this module and libsentencepiece resolve
// protobuf to their own copy first.
#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void setError(char* err, std::size_t len, const std::string& message) {
  if (err && len) {
    std::strncpy(err, message.c_str(), len - 1);
    err[len - 1] = '\0';
  }
}

}  // namespace

extern "C" {

void* darkroom_spm_load(const char* path, char* err, std::size_t errlen) {
  auto* p = new sentencepiece::SentencePieceProcessor();
  auto status = p->Load(path);
  if (!status.ok()) {
    setError(err, errlen, status.ToString());
    delete p;
    return nullptr;
  }
  return p;
}

void darkroom_spm_free(void* handle) { delete static_cast<sentencepiece::SentencePieceProcessor*>(handle); }

void darkroom_spm_release(void* buffer) { std::free(buffer); }

int darkroom_spm_encode(void* handle, const char* text, std::size_t len, int** ids,
                        std::size_t* count, char* err, std::size_t errlen) {
  auto* p = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  std::vector<int> out;
  auto status = p->Encode(std::string_view(text, len), &out);
  if (!status.ok()) {
    setError(err, errlen, status.ToString());
    return 0;
  }
  *count = out.size();
  *ids = static_cast<int*>(std::malloc(std::max<std::size_t>(1, out.size()) * sizeof(int)));
  std::memcpy(*ids, out.data(), out.size() * sizeof(int));
  return 1;
}

// Control pieces (<s>, </s>) come out as their text: SentencePiece alone would drop them.
int darkroom_spm_decode(void* handle, const int* ids, std::size_t count, char** text,
                        std::size_t* len, char* err, std::size_t errlen) {
  auto* p = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  sentencepiece::ImmutableSentencePieceText pieces;
  auto status = p->Decode(std::vector<int>(ids, ids + count), pieces.mutable_proto());
  if (!status.ok()) {
    setError(err, errlen, status.ToString());
    return 0;
  }
  std::string out;
  for (const auto& piece : pieces.pieces())
    out += p->IsControl(static_cast<int>(piece.id())) ? piece.piece() : piece.surface();
  *len = out.size();
  *text = static_cast<char*>(std::malloc(std::max<std::size_t>(1, out.size())));
  std::memcpy(*text, out.data(), out.size());
  return 1;
}

int darkroom_spm_piece_size(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->GetPieceSize();
}
int darkroom_spm_bos(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->bos_id();
}
int darkroom_spm_eos(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->eos_id();
}

}  // extern "C"
