// Test fixture: trains a small SentencePiece model from the synthetic corpus and writes it to
// the given path, so tests in processes that hold LibTorch (and so cannot link the trainer) can
// load a real tokenizer.model.
#include <sentencepiece_trainer.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "darkroom/corpus.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_spm_model OUT.model\n");
    return 2;
  }
  std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out.parent_path());
  auto corpus = out.parent_path() / "spm_corpus.txt";
  std::ofstream(corpus) << darkroom::syntheticCorpus(11, 60000);
  auto prefix = (out.parent_path() / out.stem()).string();
  auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + corpus.string() + " --model_prefix=" + prefix +
      " --vocab_size=300 --model_type=bpe --byte_fallback=true --character_coverage=1.0"
      " --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --num_threads=1 --minloglevel=2");
  if (!status.ok()) {
    std::fprintf(stderr, "make_spm_model: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
