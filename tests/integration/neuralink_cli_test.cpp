// darkroom-cli's Neuralink commands end to end on a real workspace: coact -> place ->
// layout write / verify -> iobench, export gguf, the checksums catching a flipped byte and a
// truncated file, and the usage errors.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_process.h"
#include "demo_workspace_fixture.h"
#include "test_util.h"

using namespace darkroom;
using nlohmann::json;
using test::cli;
using test::contains;
namespace fs = std::filesystem;

namespace {

// Flips every bit of the byte at `offset`.
void flipByte(const fs::path& file, std::uintmax_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << file;
  f.seekg(std::streamoff(offset));
  char c = 0;
  f.read(&c, 1);
  ASSERT_TRUE(f) << "cannot read byte " << offset << " of " << file;
  c = char(~static_cast<unsigned char>(c));
  f.seekp(std::streamoff(offset));
  f.write(&c, 1);
  ASSERT_TRUE(f) << "cannot write byte " << offset << " of " << file;
}

}  // namespace

// The shared trained workspace (demo_workspace_fixture.h). Everything that needs the model runs in
// one test: ctest starts a process, and so a training run, per test.
class NeuralinkCli : public test::DemoWorkspaceTest {};

TEST_F(NeuralinkCli, CoactPlaceLayoutVerifyBenchAndExport) {
  const auto trace = (own_ / "trace.safetensors").string();
  const auto coact = (own_ / "coact.safetensors").string();
  const auto placement = (own_ / "placement.safetensors").string();
  const auto layout = (own_ / "model.layout").string();

  // coact: the per-token trace and the co-activation counts.
  auto counted = cli(in({"coact", "--model", "demo-opt", "--tokens", "512", "--trace", trace,
                         "--out", coact, "--json"}),
                     own_.path());
  ASSERT_EQ(counted.code, 0) << counted.err;
  ASSERT_TRUE(fs::exists(trace)) << trace;
  ASSERT_TRUE(fs::exists(coact)) << coact;
  auto cj = json::parse(counted.out);
  EXPECT_EQ(cj["trace"], trace);
  EXPECT_EQ(cj["coact"], coact);
  ASSERT_FALSE(cj["layers"].empty());
  for (const auto& layer : cj["layers"]) {
    EXPECT_EQ(layer["tokens"], 512);
    EXPECT_GT(layer["neurons"].get<int>(), 0);
  }

  // place: greedy's expected I/O is no worse than the checkpoint's own order.
  auto placed = cli(in({"place", "--coact", coact, "--method", "greedy", "--out", placement,
                        "--json"}),
                    own_.path());
  ASSERT_EQ(placed.code, 0) << placed.err;
  ASSERT_TRUE(fs::exists(placement));
  auto pj = json::parse(placed.out);
  EXPECT_EQ(pj["method"], "greedy");
  EXPECT_LE(pj["expected_io"].get<double>(), pj["identity_io"].get<double>());
  for (const auto& layer : pj["layers"])
    EXPECT_LE(layer["expected_io"].get<double>(), layer["identity_io"].get<double>())
        << "layer " << layer["layer"];

  // layout write, then verify.
  auto written = cli(in({"layout", "write", "--model", "demo-opt", "--placement", placement,
                         "--out", layout, "--json"}),
                     own_.path());
  ASSERT_EQ(written.code, 0) << written.err;
  auto lj = json::parse(written.out);
  EXPECT_EQ(lj["file"], layout);
  EXPECT_EQ(lj["bytes"].get<std::uintmax_t>(), fs::file_size(layout));
  auto verified = cli(in({"layout", "verify", layout}), own_.path());
  EXPECT_EQ(verified.code, 0) << verified.err;

  // One flipped byte in the last layer's data: verify fails and names the layer.
  const auto size = fs::file_size(layout);
  ASSERT_GT(size, 5000u);
  const auto flipped = own_ / "flipped.layout";
  fs::copy_file(layout, flipped);
  ASSERT_NO_FATAL_FAILURE(flipByte(flipped, size - 5000));
  std::size_t hit = 0;  // the layer whose region holds the flipped byte
  for (std::size_t i = 0; i < lj["layers"].size(); ++i)
    if (lj["layers"][i]["data_offset"].get<std::uintmax_t>() <= size - 5000) hit = i;
  auto bad = cli(in({"layout", "verify", flipped.string()}), own_.path());
  EXPECT_EQ(bad.code, 1) << bad.err;
  EXPECT_TRUE(contains(bad.err, "layer " + std::to_string(hit)))
      << "the message should name layer " << hit << ": " << bad.err;

  // A truncated copy: verify fails and says so.
  const auto truncated = own_ / "truncated.layout";
  fs::copy_file(layout, truncated);
  fs::resize_file(truncated, size / 2);
  auto cut = cli(in({"layout", "verify", truncated.string()}), own_.path());
  EXPECT_EQ(cut.code, 1) << cut.err;
  EXPECT_TRUE(contains(cut.err, "truncated")) << cut.err;

  // iobench: real O_DIRECT reads, or buffered ones where the file system refuses O_DIRECT.
  std::vector<std::string> bench = {"iobench", "--layout", layout,  "--trace",
                                    trace,    "--tokens", "16",    "--json"};
  auto io = cli(in(bench), own_.path());
  if (io.code == 1 && contains(io.err, "O_DIRECT is not supported")) {
    bench.push_back("--buffered");
    io = cli(in(bench), own_.path());
  }
  ASSERT_EQ(io.code, 0) << io.err;
  auto ij = json::parse(io.out);
  EXPECT_EQ(ij["tokens"], 16);
  EXPECT_GT(ij["reads_per_token"].get<double>(), 0);
  EXPECT_GT(ij["mb_per_token"].get<double>(), 0);

  // export gguf, which layout verify parses and lists.
  const auto gguf = (own_ / "model.gguf").string();
  auto exported = cli(in({"export", "gguf", "--model", "demo-opt", "--placement", placement,
                          "--out", gguf}),
                      own_.path());
  ASSERT_EQ(exported.code, 0) << exported.err;
  ASSERT_TRUE(fs::exists(gguf));
  auto listed = cli(in({"layout", "verify", gguf}), own_.path());
  EXPECT_EQ(listed.code, 0) << listed.err;
  EXPECT_TRUE(contains(listed.out, "TENSOR")) << listed.out;
  EXPECT_TRUE(contains(listed.out, "blk.0.ffn_up.weight")) << listed.out;
}

// Usage errors need no model: a tiny synthetic count file stands in for a real one.
TEST(NeuralinkCliUsage, BadUsageExitsTwo) {
  test::TempDir dir;
  const auto ws = (dir / "ws").string();
  const auto coact = (dir / "coact.safetensors").string();
  auto made = cli({"--workspace", ws, "coact", "--synthetic", "--layers", "1", "--neurons", "64",
                   "--tokens", "50", "--out", coact},
                  dir.path());
  ASSERT_EQ(made.code, 0) << made.err;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"place"}, "--coact"},
      {{"place", "--method", "greedy"}, "--coact"},
      {{"place", "--coact", coact, "--method", "nope"}, "nope"},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> full = {"--workspace", ws};
    full.insert(full.end(), args.begin(), args.end());
    auto r = cli(full, dir.path());
    EXPECT_EQ(r.code, 2) << args.back() << ": " << r.err;
    EXPECT_TRUE(contains(r.err, message)) << "expected '" << message << "' in: " << r.err;
  }
}
