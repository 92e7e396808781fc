#include "darkroom/safetensors.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "test_util.h"

using darkroom::DType;
using darkroom::SafetensorsError;
using darkroom::SafetensorsFile;
using darkroom::TensorToWrite;
using darkroom::TensorView;
using darkroom::test::TempDir;

namespace {

constexpr DType kAllDTypes[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64,
                                DType::I32, DType::I16, DType::I8,  DType::U8,   DType::Bool};

std::string lengthPrefix(std::uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out;
}

// A file whose header is `json` (not checked), followed by `data`.
std::string withHeader(const std::string& json, const std::string& data = "") {
  return lengthPrefix(json.size()) + json + data;
}

void writeFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// The little-endian length prefix of a file's bytes (at least 8 of them).
std::uint64_t headerLengthOf(const std::string& bytes) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = n << 8 | static_cast<std::uint8_t>(bytes[static_cast<std::size_t>(i)]);
  return n;
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::uint8_t> randomBytes(std::size_t n, DType dtype) {
  // BOOL holds only 0 and 1; every other dtype accepts any bit pattern (NaNs included).
  std::uniform_int_distribution<int> byte(0, dtype == DType::Bool ? 1 : 255);
  std::vector<std::uint8_t> out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(byte(darkroom::test::rng()));
  return out;
}

std::size_t numel(const std::vector<std::int64_t>& shape) {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

float floatFromBits(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

std::uint32_t bitsOf(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

bool isHalfNaN(std::uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }
bool isBf16NaN(std::uint16_t b) { return (b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0; }

// Opens `bytes` as a file and expects an error naming the file and containing every one of
// `words`.
void expectOpenError(const std::string& bytes, const std::vector<std::string>& words) {
  TempDir dir;
  const auto file = dir / "bad.safetensors";
  writeFile(file, bytes);
  try {
    SafetensorsFile::open(file);
    ADD_FAILURE() << "a malformed file opened";
  } catch (const SafetensorsError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    for (const auto& word : words)
      EXPECT_NE(message.find(word), std::string::npos) << "no \"" << word << "\" in: " << message;
  }
}

// A header with one tensor "w" whose entry is `entry`, and `dataBytes` zero bytes of data.
std::string oneTensor(const std::string& entry, std::size_t dataBytes = 16) {
  return withHeader(R"({"w": )" + entry + "}", std::string(dataBytes, '\0'));
}

}  // namespace

TEST(SafetensorsDType, NamesAndSizesRoundTrip) {
  const std::pair<DType, std::size_t> sizes[] = {
      {DType::F64, 8}, {DType::F32, 4}, {DType::F16, 2}, {DType::BF16, 2}, {DType::I64, 8},
      {DType::I32, 4}, {DType::I16, 2}, {DType::I8, 1},  {DType::U8, 1},   {DType::Bool, 1}};
  for (auto [dtype, size] : sizes) {
    EXPECT_EQ(darkroom::dtypeSize(dtype), size) << darkroom::dtypeName(dtype);
    EXPECT_EQ(darkroom::dtypeFromName(darkroom::dtypeName(dtype)), dtype);
  }
  EXPECT_STREQ(darkroom::dtypeName(DType::Bool), "BOOL");
  EXPECT_STREQ(darkroom::dtypeName(DType::BF16), "BF16");
  for (const char* unknown : {"", "f32", "F8_E4M3", "U16", "Q4_0", "F32 "})
    EXPECT_FALSE(darkroom::dtypeFromName(unknown)) << unknown;
}

TEST(Fp16, KnownBitPatterns) {
  const std::pair<float, std::uint16_t> exact[] = {
      {1.0f, 0x3c00},
      {-2.0f, 0xc000},
      {65504.0f, 0x7bff},
      {0x1p-24f, 0x0001},
      {1023 * 0x1p-24f, 0x03ff},
      {0x1p-14f, 0x0400},
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {0.5f, 0x3800},
      {-0x1p-24f, 0x8001},
      {3.140625f, 0x4248},
      {std::numeric_limits<float>::infinity(), 0x7c00},
      {-std::numeric_limits<float>::infinity(), 0xfc00},
  };
  for (auto [value, bits] : exact) {
    EXPECT_EQ(darkroom::floatToFp16(value), bits) << value;
    EXPECT_EQ(bitsOf(darkroom::fp16ToFloat(bits)), bitsOf(value)) << std::hex << bits;
  }
  EXPECT_EQ(darkroom::floatToFp16(0.1f), 0x2e66);
  EXPECT_EQ(darkroom::floatToFp16(3.14159265f), 0x4248);

  // NaN stays NaN both ways, whatever its payload and sign.
  for (std::uint16_t nan : {0x7e00, 0x7c01, 0xfe00, 0x7fff})
    EXPECT_TRUE(std::isnan(darkroom::fp16ToFloat(nan))) << std::hex << nan;
  for (std::uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu, 0x7f802000u}) {
    const std::uint16_t h = darkroom::floatToFp16(floatFromBits(nan));
    EXPECT_TRUE(isHalfNaN(h)) << std::hex << nan << " -> " << h;
    EXPECT_EQ(h & 0x8000, (nan >> 16) & 0x8000) << std::hex << nan;
  }
}

TEST(Fp16, RoundsToNearestEven) {
  const std::pair<float, std::uint16_t> cases[] = {
      {1.0f + 0x1p-11f, 0x3c00},             // tie: down to the even 1.0
      {1.0f + 3 * 0x1p-11f, 0x3c02},         // tie: up to the even 1+2^-9
      {1.0f + 0x1p-11f + 0x1p-23f, 0x3c01},  // just above the tie
      {1.0f + 0x1p-11f - 0x1p-23f, 0x3c00},  // just below the tie
      {2.0f - 0x1p-11f, 0x4000},             // tie carries into the exponent
      {65519.0f, 0x7bff},                    // below the overflow tie
      {65520.0f, 0x7c00},                    // the tie rounds to 2^16: infinity
      {1e6f, 0x7c00},
      {-1e6f, 0xfc00},
      {std::numeric_limits<float>::max(), 0x7c00},
      {0x1p-25f, 0x0000},  // half the smallest subnormal: tie to 0
      {0x1p-25f + 0x1p-48f, 0x0001},
      {3 * 0x1p-25f, 0x0002},  // tie between subnormals 1 and 2
      {0x1p-26f, 0x0000},
      {1e-40f, 0x0000},  // a float subnormal
      {-1e-40f, 0x8000},
      {1023.5f * 0x1p-24f, 0x0400},  // rounds up into the smallest normal
  };
  for (auto [value, bits] : cases)
    EXPECT_EQ(darkroom::floatToFp16(value), bits) << std::hexfloat << value;
}

TEST(Fp16, EveryBitPatternDecodesExactlyAndRoundTrips) {
  for (std::uint32_t i = 0; i <= 0xffff; ++i) {
    const auto h = static_cast<std::uint16_t>(i);
    const float f = darkroom::fp16ToFloat(h);
    const std::uint16_t back = darkroom::floatToFp16(f);
    if (isHalfNaN(h)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << i;
      ASSERT_TRUE(isHalfNaN(back)) << std::hex << i;
      continue;
    }
    ASSERT_EQ(back, h) << std::hex << i;
    // Independent decoding: (-1)^s * 2^(e-15) * 1.m, or 2^-14 * 0.m for subnormals.
    const int e = (h >> 10) & 0x1f;
    const int m = h & 0x3ff;
    double expected = e == 0x1f ? std::numeric_limits<double>::infinity()
                      : e == 0  ? std::ldexp(m, -24)
                                : std::ldexp(1024 + m, e - 25);
    if (h & 0x8000) expected = -expected;
    ASSERT_EQ(static_cast<double>(f), expected) << std::hex << i;
  }
}

TEST(Fp16, RandomFloatsRoundToTheNearestHalf) {
  std::uniform_int_distribution<std::uint32_t> bits(0, 0x477fdfffu);  // below 65504: finite
  auto& rng = darkroom::test::rng();
  for (int i = 0; i < 200000; ++i) {
    const float x = floatFromBits(bits(rng));
    const std::uint16_t h = darkroom::floatToFp16(x);
    auto error = [&](std::uint16_t c) { return std::fabs(double{x} - darkroom::fp16ToFloat(c)); };
    // Among the neighbouring halves, h is nearest; on a tie it is the even one.
    for (int step : {-1, 1}) {
      if ((h == 0 && step < 0) || (h == 0x7bff && step > 0)) continue;
      const auto other = static_cast<std::uint16_t>(h + step);
      ASSERT_LE(error(h), error(other)) << std::hexfloat << x;
      if (error(h) == error(other)) {
        ASSERT_EQ(h & 1, 0) << std::hexfloat << x;
      }
    }
  }
}

TEST(Bf16, KnownBitPatterns) {
  const std::pair<float, std::uint16_t> exact[] = {
      {1.0f, 0x3f80},
      {-2.0f, 0xc000},
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {0x1p-133f, 0x0001},
      {0x1p-126f, 0x0080},
      {0x1.fep127f, 0x7f7f},  // the largest bf16
      {std::numeric_limits<float>::infinity(), 0x7f80},
      {-std::numeric_limits<float>::infinity(), 0xff80},
  };
  for (auto [value, bits] : exact) {
    EXPECT_EQ(darkroom::floatToBf16(value), bits) << value;
    EXPECT_EQ(bitsOf(darkroom::bf16ToFloat(bits)), bitsOf(value)) << std::hex << bits;
  }
  // A NaN whose payload sits only in the dropped low half must not become infinity.
  for (std::uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu}) {
    const std::uint16_t b = darkroom::floatToBf16(floatFromBits(nan));
    EXPECT_TRUE(isBf16NaN(b)) << std::hex << nan << " -> " << b;
    EXPECT_EQ(b & 0x8000, (nan >> 16) & 0x8000) << std::hex << nan;
  }
  EXPECT_TRUE(std::isnan(darkroom::bf16ToFloat(0x7f81)));
}

TEST(Bf16, RoundsToNearestEven) {
  const std::pair<float, std::uint16_t> cases[] = {
      {1.0f + 0x1p-8f, 0x3f80},             // tie: down to the even 1.0
      {1.0f + 3 * 0x1p-8f, 0x3f82},         // tie: up to the even one
      {1.0f + 0x1p-8f + 0x1p-23f, 0x3f81},  // just above the tie
      {2.0f - 0x1p-8f, 0x4000},             // tie carries into the exponent
      {std::numeric_limits<float>::max(), 0x7f80},
      {-std::numeric_limits<float>::max(), 0xff80},
      {0x1.fefffep127f, 0x7f7f},  // just below the overflow tie
  };
  for (auto [value, bits] : cases)
    EXPECT_EQ(darkroom::floatToBf16(value), bits) << std::hexfloat << value;
}

TEST(Bf16, EveryBitPatternRoundTrips) {
  for (std::uint32_t i = 0; i <= 0xffff; ++i) {
    const auto b = static_cast<std::uint16_t>(i);
    const float f = darkroom::bf16ToFloat(b);
    ASSERT_EQ(bitsOf(f), i << 16);
    if (isBf16NaN(b)) {
      ASSERT_TRUE(isBf16NaN(darkroom::floatToBf16(f))) << std::hex << i;
    } else {
      ASSERT_EQ(darkroom::floatToBf16(f), b) << std::hex << i;
    }
  }
}

TEST(Bf16, RandomFloatsRoundToTheNearestBf16) {
  std::uniform_int_distribution<std::uint32_t> bits(0, 0x7f7f7fffu);  // below the overflow tie
  auto& rng = darkroom::test::rng();
  for (int i = 0; i < 200000; ++i) {
    const float x = floatFromBits(bits(rng));
    const std::uint16_t b = darkroom::floatToBf16(x);
    auto error = [&](std::uint16_t c) { return std::fabs(double{x} - darkroom::bf16ToFloat(c)); };
    for (int step : {-1, 1}) {
      if ((b == 0 && step < 0) || (b == 0x7f7f && step > 0)) continue;
      const auto other = static_cast<std::uint16_t>(b + step);
      ASSERT_LE(error(b), error(other)) << std::hexfloat << x;
      if (error(b) == error(other)) {
        ASSERT_EQ(b & 1, 0) << std::hexfloat << x;
      }
    }
  }
}

TEST(Safetensors, RoundTripsEveryDTypeAndShapeWithMetadata) {
  TempDir dir;
  const auto file = dir / "model.safetensors";
  const std::vector<std::vector<std::int64_t>> shapes = {{0},       {1}, {3, 5, 7},
                                                         {1, 1023}, {},  {2, 0, 3}};

  struct Expected {
    std::string name;
    DType dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<Expected> expected;
  for (DType dtype : kAllDTypes)
    for (std::size_t s = 0; s < shapes.size(); ++s)
      expected.push_back(
          {std::string("layers.") + std::to_string(s) + "." + darkroom::dtypeName(dtype), dtype,
           shapes[s], randomBytes(numel(shapes[s]) * darkroom::dtypeSize(dtype), dtype)});
  // Names that need JSON escaping survive too.
  expected.push_back(
      {"quote\" back\\slash \xc3\xbc\xe2\x9c\x93 \t", DType::F32, {2}, randomBytes(8, DType::F32)});
  std::shuffle(expected.begin(), expected.end(), darkroom::test::rng());

  std::vector<TensorToWrite> tensors;
  for (const auto& e : expected)
    tensors.push_back({e.name, e.dtype, e.shape, e.bytes.data(), e.bytes.size()});
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"seed", std::to_string(darkroom::test::rng()())},
      {"na\xc3\xafve", "\xe2\x9c\x93 \"quoted\"\n"},
      {"empty", ""}};
  darkroom::writeSafetensors(file, tensors, metadata);
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors.partial"));

  const auto st = SafetensorsFile::open(file);
  EXPECT_EQ(st.path(), file);
  EXPECT_EQ(st.metadata(), metadata);
  ASSERT_EQ(st.tensors().size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const TensorView& v = st.tensors()[i];
    const Expected& e = expected[i];
    SCOPED_TRACE(e.name);
    EXPECT_EQ(v.name, e.name);  // header order is the order given to the writer
    EXPECT_EQ(v.dtype, e.dtype);
    EXPECT_EQ(v.shape, e.shape);
    EXPECT_EQ(v.numel(), static_cast<std::int64_t>(numel(e.shape)));
    ASSERT_EQ(v.bytes, e.bytes.size());
    EXPECT_EQ(std::vector<std::uint8_t>(v.data, v.data + v.bytes), e.bytes);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.data) % darkroom::dtypeSize(v.dtype), 0u);
    EXPECT_EQ(st.find(e.name), &v);
  }
}

TEST(Safetensors, WriterPadsTheHeaderAndPacksTheDataWithoutGaps) {
  // The reference reader demands that the tensors tile the data section exactly.
  TempDir dir;
  const auto file = dir / "packed.safetensors";
  std::vector<std::vector<std::uint8_t>> buffers;
  std::vector<TensorToWrite> tensors;
  std::uniform_int_distribution<std::int64_t> dim(0, 9);
  for (int i = 0; i < 40; ++i) {
    const DType dtype = kAllDTypes[static_cast<std::size_t>(i) % std::size(kAllDTypes)];
    std::vector<std::int64_t> shape = {dim(darkroom::test::rng()), dim(darkroom::test::rng())};
    buffers.push_back(randomBytes(numel(shape) * darkroom::dtypeSize(dtype), dtype));
    tensors.push_back(
        {"t" + std::to_string(i), dtype, shape, buffers.back().data(), buffers.back().size()});
  }
  darkroom::writeSafetensors(file, tensors);

  const std::string bytes = readFile(file);
  ASSERT_GE(bytes.size(), 8u);
  const std::uint64_t headerBytes = headerLengthOf(bytes);
  EXPECT_EQ(headerBytes % 8, 0u);
  const auto header = nlohmann::json::parse(bytes.substr(8, headerBytes));
  EXPECT_FALSE(header.contains("__metadata__"));  // none given, none written
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& [name, entry] : header.items()) {
    const auto offsets = entry.at("data_offsets").get<std::vector<std::uint64_t>>();
    const auto size =
        darkroom::dtypeSize(*darkroom::dtypeFromName(entry.at("dtype").get<std::string>()));
    EXPECT_EQ(offsets[0] % size, 0u) << name;
    ranges.emplace_back(offsets[0], offsets[1]);
  }
  std::sort(ranges.begin(), ranges.end());
  std::uint64_t end = 0;
  for (auto [b, e] : ranges) {
    EXPECT_EQ(b, end);
    end = e;
  }
  EXPECT_EQ(8 + headerBytes + end, bytes.size());
}

TEST(Safetensors, ReadsAHandWrittenFile) {
  // Written byte by byte, not by the writer: header in a non-sorted order, with spaces and a
  // newline, unpadded length, a gap in the data, and metadata first.
  const std::string json =
      "{\"__metadata__\": {\"format\": \"pt\"},\n"
      " \"b\": {\"dtype\": \"I16\", \"shape\": [3], \"data_offsets\": [8, 14]},\n"
      " \"a\": {\"data_offsets\": [0, 8], \"shape\": [2], \"dtype\": \"F32\"},\n"
      " \"c\": {\"dtype\": \"BF16\", \"shape\": [], \"data_offsets\": [16, 18]}}   ";
  std::string bytes;
  bytes += static_cast<char>(json.size());  // < 256: one byte then seven zeros
  bytes += std::string(7, '\0');
  bytes += json;
  const unsigned char data[] = {
      0x00, 0x00, 0xc0, 0x3f,  // a[0] =  1.5f
      0x00, 0x00, 0x00, 0xc0,  // a[1] = -2.0f
      0x01, 0x00,              // b[0] = 1
      0xff, 0xff,              // b[1] = -1
      0x2c, 0x01,              // b[2] = 300
      0xee, 0xee,              // unused gap
      0x80, 0x3f,              // c = 1.0 in bf16
  };
  bytes.append(reinterpret_cast<const char*>(data), sizeof data);
  ASSERT_LT(json.size(), 256u);

  TempDir dir;
  writeFile(dir / "hand.safetensors", bytes);
  const auto st = SafetensorsFile::open(dir / "hand.safetensors");
  EXPECT_EQ(st.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(st.tensors().size(), 3u);
  EXPECT_EQ(st.tensors()[0].name, "b");
  EXPECT_EQ(st.tensors()[1].name, "a");
  EXPECT_EQ(st.tensors()[2].name, "c");

  const TensorView& a = st.at("a");
  EXPECT_EQ(a.dtype, DType::F32);
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(darkroom::toFloat32(a), (std::vector<float>{1.5f, -2.0f}));

  const TensorView& b = st.at("b");
  EXPECT_EQ(b.dtype, DType::I16);
  std::int16_t values[3];
  ASSERT_EQ(b.bytes, sizeof values);
  std::memcpy(values, b.data, sizeof values);
  EXPECT_EQ(values[0], 1);
  EXPECT_EQ(values[1], -1);
  EXPECT_EQ(values[2], 300);

  const TensorView& c = st.at("c");
  EXPECT_TRUE(c.shape.empty());
  EXPECT_EQ(c.numel(), 1);
  EXPECT_EQ(darkroom::toFloat32(c), std::vector<float>{1.0f});
}

TEST(Safetensors, EmptyHeaderAndZeroSizeTensorsAreValid) {
  TempDir dir;
  writeFile(dir / "empty.safetensors", withHeader("{}"));
  const auto empty = SafetensorsFile::open(dir / "empty.safetensors");
  EXPECT_TRUE(empty.tensors().empty());
  EXPECT_TRUE(empty.metadata().empty());

  // An empty tensor owns no bytes, so it may sit inside another's range or at the very end.
  writeFile(dir / "zero.safetensors",
            withHeader(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                           "inside": {"dtype": "F32", "shape": [0, 4], "data_offsets": [4, 4]},
                           "end": {"dtype": "I8", "shape": [0], "data_offsets": [8, 8]}})",
                       std::string(8, '\0')));
  const auto zero = SafetensorsFile::open(dir / "zero.safetensors");
  ASSERT_EQ(zero.tensors().size(), 3u);
  EXPECT_EQ(zero.at("inside").bytes, 0u);
  EXPECT_EQ(zero.at("inside").numel(), 0);
  EXPECT_TRUE(darkroom::toFloat32(zero.at("inside")).empty());
  EXPECT_EQ(zero.at("end").bytes, 0u);

  darkroom::writeSafetensors(dir / "none.safetensors", {});
  EXPECT_TRUE(SafetensorsFile::open(dir / "none.safetensors").tensors().empty());
}

TEST(Safetensors, ToFloat32ConvertsEveryFloatType) {
  TempDir dir;
  const double f64[] = {1.5, -0.25, 1e300, 3.0};
  const float f32[] = {1.5f, -0.25f, 7.0f};
  const std::uint16_t f16[] = {0x3c00, 0xc000, 0x7bff};
  const std::uint16_t bf16[] = {0x3f80, 0xc000, 0x7f80};
  const std::int32_t i32[] = {1, 2};
  darkroom::writeSafetensors(dir / "f.safetensors", {{"f64", DType::F64, {2, 2}, f64, sizeof f64},
                                                     {"f32", DType::F32, {3}, f32, sizeof f32},
                                                     {"f16", DType::F16, {3}, f16, sizeof f16},
                                                     {"bf16", DType::BF16, {3}, bf16, sizeof bf16},
                                                     {"i32", DType::I32, {2}, i32, sizeof i32}});
  const auto st = SafetensorsFile::open(dir / "f.safetensors");
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(darkroom::toFloat32(st.at("f64")), (std::vector<float>{1.5f, -0.25f, inf, 3.0f}));
  EXPECT_EQ(darkroom::toFloat32(st.at("f32")), (std::vector<float>{1.5f, -0.25f, 7.0f}));
  EXPECT_EQ(darkroom::toFloat32(st.at("f16")), (std::vector<float>{1.0f, -2.0f, 65504.0f}));
  EXPECT_EQ(darkroom::toFloat32(st.at("bf16")), (std::vector<float>{1.0f, -2.0f, inf}));
  try {
    darkroom::toFloat32(st.at("i32"));
    ADD_FAILURE() << "converted an integer tensor";
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("\"i32\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a floating-point"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, FindAndAtReportMissingTensors) {
  TempDir dir;
  const float one = 1.0f;
  darkroom::writeSafetensors(dir / "m.safetensors", {{"w", DType::F32, {1}, &one, sizeof one}});
  const auto st = SafetensorsFile::open(dir / "m.safetensors");
  EXPECT_NE(st.find("w"), nullptr);
  EXPECT_EQ(st.find("v"), nullptr);
  EXPECT_EQ(st.find(""), nullptr);
  try {
    st.at("v");
    ADD_FAILURE() << "found a missing tensor";
  } catch (const SafetensorsError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("missing tensor \"v\""), std::string::npos) << message;
    EXPECT_NE(message.find((dir / "m.safetensors").string()), std::string::npos) << message;
  }
}

TEST(Safetensors, MovingKeepsViewsValid) {
  TempDir dir;
  const auto bytes = randomBytes(4 * 1023, DType::F32);
  darkroom::writeSafetensors(dir / "m.safetensors",
                             {{"w", DType::F32, {1, 1023}, bytes.data(), bytes.size()}});
  auto first = SafetensorsFile::open(dir / "m.safetensors");
  const TensorView* view = &first.at("w");
  SafetensorsFile second = std::move(first);
  EXPECT_EQ(std::vector<std::uint8_t>(view->data, view->data + view->bytes), bytes);

  auto third = SafetensorsFile::open(dir / "m.safetensors");
  third = std::move(second);  // unmaps third's own mapping, takes second's
  EXPECT_EQ(&third.at("w"), view);
  EXPECT_EQ(std::vector<std::uint8_t>(view->data, view->data + view->bytes), bytes);
}

TEST(SafetensorsMalformed, FileAndHeaderLength) {
  expectOpenError("", {"shorter than 8 bytes"});
  expectOpenError("abcdefg", {"shorter than 8 bytes"});
  expectOpenError(lengthPrefix(darkroom::kSafetensorsMaxHeaderBytes + 1) + "{}",
                  {"header too large"});
  expectOpenError(lengthPrefix(~std::uint64_t{0}) + "{}", {"header too large"});
  expectOpenError(lengthPrefix(100) + "{}", {"truncated", "header needs 100 bytes", "only 2"});
}

TEST(SafetensorsMalformed, HeaderIsNotAJsonObject) {
  expectOpenError(withHeader(""), {"not valid JSON"});
  expectOpenError(withHeader(R"({"w": )"), {"not valid JSON"});
  expectOpenError(withHeader("{} trailing"), {"not valid JSON"});
  expectOpenError(withHeader("{\"w\xff\": 1}"), {"not valid JSON"});  // not UTF-8
  expectOpenError(withHeader("[1, 2]"), {"not a JSON object"});
  expectOpenError(withHeader("\"w\""), {"not a JSON object"});
  expectOpenError(withHeader(std::string(100000, '[')), {"nests deeper"});
  expectOpenError(oneTensor(R"({"dtype": "F32", "shape": [[4]], "data_offsets": [0, 16]})"),
                  {"nests deeper"});
}

TEST(SafetensorsMalformed, EntryFields) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"5", {"not an object"}},
      {"[]", {"not an object"}},
      {R"({"shape": [4], "data_offsets": [0, 16]})", {"missing \"dtype\""}},
      {R"({"dtype": "F32", "data_offsets": [0, 16]})", {"missing \"shape\""}},
      {R"({"dtype": "F32", "shape": [4]})", {"missing \"data_offsets\""}},
      {R"({"dtype": 4, "shape": [4], "data_offsets": [0, 16]})", {"dtype is not a string"}},
      {R"({"dtype": "F8_E4M3", "shape": [16], "data_offsets": [0, 16]})",
       {"unknown dtype", "F8_E4M3"}},
      {R"({"dtype": "f32", "shape": [4], "data_offsets": [0, 16]})", {"unknown dtype", "f32"}},
      {R"({"dtype": "F32", "dtype": "F32", "shape": [4], "data_offsets": [0, 16]})",
       {"duplicate key \"dtype\" in \"w\""}},
      {R"({"dtype": "F32", "shape": 4, "data_offsets": [0, 16]})", {"shape is not an array"}},
      {R"({"dtype": "F32", "shape": [2, -2], "data_offsets": [0, 16]})", {"negative dimension -2"}},
      {R"({"dtype": "F32", "shape": [1.5], "data_offsets": [0, 16]})", {"array of integers"}},
      {R"({"dtype": "F32", "shape": ["4"], "data_offsets": [0, 16]})", {"array of integers"}},
      {R"({"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]})",
       {"overflows"}},
      {R"({"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]})",
       {"overflows"}},
      {R"({"dtype": "U8", "shape": [18446744073709551615], "data_offsets": [0, 0]})",
       {"overflows", "too large"}},
      {R"({"dtype": "U8", "shape": [99999999999999999999999], "data_offsets": [0, 0]})",
       {"array of integers"}},
  };
  for (const auto& [entry, words] : cases) {
    SCOPED_TRACE(entry);
    auto withName = words;
    withName.push_back("\"w\"");
    expectOpenError(oneTensor(entry), withName);
  }
}

TEST(SafetensorsMalformed, DataOffsets) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"[0]", {"two non-negative integers"}},
      {"[0, 16, 16]", {"two non-negative integers"}},
      {"[-4, 12]", {"two non-negative integers"}},
      {"[0, 16.0]", {"two non-negative integers"}},
      {R"([0, "16"])", {"two non-negative integers"}},
      {R"({"begin": 0})", {"two non-negative integers"}},
      {"[16, 0]", {"data_offsets [16, 0) are decreasing"}},
      {"[0, 12]", {"shape [4] of F32 needs 16 bytes but data_offsets [0, 12) hold 12"}},
      {"[4, 24]", {"shape [4] of F32 needs 16 bytes but data_offsets [4, 24) hold 20"}},
  };
  for (const auto& [offsets, words] : cases) {
    SCOPED_TRACE(offsets);
    auto withName = words;
    withName.push_back("\"w\"");
    expectOpenError(
        oneTensor(R"({"dtype": "F32", "shape": [4], "data_offsets": )" + offsets + "}", 32),
        withName);
  }
}

TEST(SafetensorsMalformed, Truncated) {
  expectOpenError(oneTensor(R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 16]})", 8),
                  {"truncated: tensor \"w\" needs bytes [0, 16) but the data section has only 8 "
                   "bytes"});
  // Offsets near 2^64 must not wrap around the bounds check.
  expectOpenError(oneTensor(R"({"dtype": "U8", "shape": [2],
                                "data_offsets": [18446744073709551614, 18446744073709551615]})"),
                  {"truncated", "\"w\""});

  // A real file cut short.
  TempDir dir;
  const auto bytes = randomBytes(64, DType::F32);
  darkroom::writeSafetensors(dir / "cut.safetensors",
                             {{"first", DType::F32, {8}, bytes.data(), 32},
                              {"last", DType::F32, {8}, bytes.data() + 32, 32}});
  std::filesystem::resize_file(dir / "cut.safetensors",
                               std::filesystem::file_size(dir / "cut.safetensors") - 1);
  try {
    SafetensorsFile::open(dir / "cut.safetensors");
    ADD_FAILURE() << "a truncated file opened";
  } catch (const SafetensorsError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("truncated: tensor \"last\" needs bytes [32, 64) but the data section "
                           "has only 63 bytes"),
              std::string::npos)
        << message;
  }
}

TEST(SafetensorsMalformed, OverlapsAndDuplicates) {
  const std::string data(32, '\0');
  expectOpenError(withHeader(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                             data),
                  {"overlap", "\"a\" [0, 8)", "\"b\" [4, 12)"});
  // Reported in data order even when the header lists them the other way round, and with an
  // unrelated tensor in between.
  expectOpenError(withHeader(R"({"late": {"dtype": "I8", "shape": [8], "data_offsets": [16, 24]},
                                 "x": {"dtype": "I8", "shape": [4], "data_offsets": [0, 4]},
                                 "early": {"dtype": "I8", "shape": [16],
                                           "data_offsets": [4, 20]}})",
                             data),
                  {"overlap", "\"early\"", "\"late\""});
  expectOpenError(withHeader(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                                 "a": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}})",
                             data),
                  {"duplicate tensor name \"a\""});
  expectOpenError(withHeader(R"({"__metadata__": {}, "__metadata__": {}})"),
                  {"duplicate tensor name \"__metadata__\""});
}

TEST(SafetensorsMalformed, Metadata) {
  expectOpenError(withHeader(R"({"__metadata__": ["format", "pt"]})"),
                  {"__metadata__ is not an object"});
  expectOpenError(withHeader(R"({"__metadata__": {"format": "pt", "step": 3}})"),
                  {"__metadata__ value of \"step\" is not a string"});
  expectOpenError(withHeader(R"({"__metadata__": {"format": "pt", "format": "np"}})"),
                  {"duplicate key \"format\" in \"__metadata__\""});
}

TEST(SafetensorsMalformed, NotARegularOrExistingFile) {
  TempDir dir;
  try {
    SafetensorsFile::open(dir.path());
    ADD_FAILURE() << "opened a folder";
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  try {
    SafetensorsFile::open(dir / "absent.safetensors");
    ADD_FAILURE() << "opened a missing file";
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.safetensors: cannot open"), std::string::npos)
        << e.what();
  }
}

TEST(SafetensorsMalformed, RandomCorruptionNeverEscapesAsAnythingButAnError) {
  // Corrupt a valid file many ways; open() must either succeed with views inside the file or
  // throw SafetensorsError. Under the sanitizers this catches out-of-bounds reads.
  TempDir dir;
  const auto file = dir / "fuzz.safetensors";
  const auto bytes = randomBytes(64, DType::U8);
  darkroom::writeSafetensors(file,
                             {{"a", DType::F32, {2, 3}, bytes.data(), 24},
                              {"b", DType::I8, {3}, bytes.data() + 24, 3},
                              {"c", DType::BF16, {0}, bytes.data(), 0},
                              {"d", DType::I64, {1}, bytes.data() + 32, 8}},
                             {{"k", "v"}});
  const std::string valid = readFile(file);
  const std::size_t headerEnd = 8 + headerLengthOf(valid);
  // Most mutations hit the header's numbers, which keeps the JSON valid and so reaches the
  // shape, offset and overlap checks; a bad length prefix alone would fail at the first check.
  std::vector<std::size_t> digits;
  for (std::size_t i = 8; i < headerEnd; ++i)
    if (valid[i] >= '0' && valid[i] <= '9') digits.push_back(i);
  const std::string jsonish = "0123456789[]{},:\" -.eE\\";
  auto& rng = darkroom::test::rng();
  std::uniform_int_distribution<int> kind(0, 9), byte(0, 255), count(1, 4);
  std::uniform_int_distribution<std::size_t> inHeader(8, headerEnd - 1), anywhere(0, valid.size()),
      digit(0, digits.size() - 1);
  int opened = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string corrupt = valid;
    for (int n = count(rng); n > 0; --n) {
      const int k = kind(rng);
      if (k < 5)
        corrupt[digits[digit(rng)]] = static_cast<char>('0' + byte(rng) % 10);
      else if (k < 7)
        corrupt[inHeader(rng)] = jsonish[static_cast<std::size_t>(byte(rng)) % jsonish.size()];
      else if (k < 8)
        corrupt[inHeader(rng)] = static_cast<char>(byte(rng));
      else if (k < 9)
        corrupt[0] = static_cast<char>(corrupt[0] + byte(rng) % 17 - 8);  // nudge the length
      else
        corrupt[anywhere(rng) % corrupt.size()] = static_cast<char>(byte(rng));
    }
    if (kind(rng) == 0) corrupt.resize(anywhere(rng));
    std::filesystem::remove(file);  // rewriting in place would make ext4 flush every round
    writeFile(file, corrupt);
    try {
      const auto st = SafetensorsFile::open(file);
      ++opened;
      // It opened, so the header is valid JSON: each view must show exactly its own bytes.
      const std::uint64_t headerBytes = headerLengthOf(corrupt);
      const auto header = nlohmann::json::parse(corrupt.substr(8, headerBytes));
      for (const auto& t : st.tensors()) {
        const auto offsets = header.at(t.name).at("data_offsets").get<std::vector<std::uint64_t>>();
        const std::uint64_t begin = 8 + headerBytes + offsets[0];
        ASSERT_LE(begin + t.bytes, corrupt.size()) << t.name;
        ASSERT_EQ(std::memcmp(t.data, corrupt.data() + begin, t.bytes), 0) << t.name;
      }
    } catch (const SafetensorsError&) {
    }
  }
  EXPECT_GT(opened, 0);  // corruption of the data section alone leaves a valid file
}

TEST(SafetensorsWrite, RejectsBadTensorsWithoutTouchingTheFile) {
  TempDir dir;
  const auto file = dir / "keep.safetensors";
  const auto bytes = randomBytes(16, DType::F32);
  darkroom::writeSafetensors(file, {{"w", DType::F32, {4}, bytes.data(), 16}});
  const std::string before = readFile(file);

  const std::vector<std::pair<std::vector<TensorToWrite>, std::string>> cases = {
      {{{"w", DType::F32, {3, 5, 7}, bytes.data(), 16}},
       "tensor \"w\": shape [3, 5, 7] of F32 needs 420 bytes but 16 were given"},
      {{{"a", DType::F32, {2}, bytes.data(), 8}, {"a", DType::F32, {2}, bytes.data(), 8}},
       "duplicate tensor name \"a\""},
      {{{"__metadata__", DType::U8, {1}, bytes.data(), 1}}, "reserved for metadata"},
      {{{"w", DType::F32, {-1, 4}, bytes.data(), 16}}, "negative dimension"},
      {{{"w", DType::F32, {std::int64_t{1} << 40, std::int64_t{1} << 40}, bytes.data(), 16}},
       "overflows"},
      {{{"w", DType::F32, {4}, nullptr, 16}}, "data is null"},
      {{{"bad\xff", DType::F32, {4}, bytes.data(), 16}}, "UTF-8"},
  };
  for (const auto& [tensors, words] : cases) {
    SCOPED_TRACE(words);
    try {
      darkroom::writeSafetensors(file, tensors);
      ADD_FAILURE() << "wrote bad tensors";
    } catch (const SafetensorsError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(file.string()), std::string::npos) << message;
      EXPECT_NE(message.find(words), std::string::npos) << message;
    }
    EXPECT_EQ(readFile(file), before);
    EXPECT_FALSE(std::filesystem::exists(dir / "keep.safetensors.partial"));
  }
}

TEST(SafetensorsWrite, FailedWritesLeaveThePreviousFile) {
  TempDir dir;
  const auto file = dir / "model.safetensors";
  const auto old = randomBytes(1023 * 4, DType::F32);
  darkroom::writeSafetensors(file, {{"w", DType::F32, {1, 1023}, old.data(), old.size()}},
                             {{"version", "1"}});
  const std::string before = readFile(file);
  const auto fresh = randomBytes(1 << 20, DType::U8);
  const std::vector<TensorToWrite> update = {
      {"w", DType::U8, {1 << 20}, fresh.data(), fresh.size()}};

  auto expectIntact = [&] {
    EXPECT_EQ(readFile(file), before);
    const auto st = SafetensorsFile::open(file);
    EXPECT_EQ(st.metadata().at("version"), "1");
    EXPECT_EQ(std::vector<std::uint8_t>(st.at("w").data, st.at("w").data + st.at("w").bytes), old);
  };

  // The partial file cannot be created: a folder sits at PATH.partial.
  std::filesystem::create_directory(dir / "model.safetensors.partial");
  EXPECT_THROW(darkroom::writeSafetensors(file, update), SafetensorsError);
  expectIntact();
  EXPECT_TRUE(std::filesystem::is_directory(dir / "model.safetensors.partial"));
  std::filesystem::remove(dir / "model.safetensors.partial");

  // The disk fills up halfway: a file size limit makes write() fail with EFBIG. The limit is
  // lifted before any assertion prints.
  std::string message;
  {
    rlimit saved{};
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
    rlimit small = saved;
    small.rlim_cur = 64 << 10;
    const auto previousHandler = std::signal(SIGXFSZ, SIG_IGN);  // else the process dies
    setrlimit(RLIMIT_FSIZE, &small);
    try {
      darkroom::writeSafetensors(file, update);
    } catch (const SafetensorsError& e) {
      message = e.what();
    }
    setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, previousHandler);
  }
  EXPECT_NE(message.find("cannot write"), std::string::npos) << message;
  expectIntact();
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors.partial"));

  // The folder cannot exist: its parent path is a regular file.
  writeFile(dir / "plain", "not a folder");
  try {
    darkroom::writeSafetensors(dir / "plain" / "model.safetensors", update);
    ADD_FAILURE() << "wrote below a regular file";
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create"), std::string::npos) << e.what();
  }
  EXPECT_EQ(readFile(dir / "plain"), "not a folder");

  // With nothing in the way, the same update goes through.
  darkroom::writeSafetensors(file, update);
  EXPECT_EQ(SafetensorsFile::open(file).at("w").bytes, fresh.size());
}

TEST(SafetensorsWrite, ReplacingAFileLeavesOpenReadersOnTheOldOne) {
  TempDir dir;
  const auto file = dir / "live.safetensors";
  const auto first = randomBytes(4096, DType::U8);
  const auto second = randomBytes(4096, DType::U8);
  darkroom::writeSafetensors(file, {{"w", DType::U8, {4096}, first.data(), first.size()}});
  const auto reader = SafetensorsFile::open(file);
  darkroom::writeSafetensors(file, {{"w", DType::U8, {4096}, second.data(), second.size()}});
  const TensorView& old = reader.at("w");
  EXPECT_EQ(std::vector<std::uint8_t>(old.data, old.data + old.bytes), first);
  const auto fresh = SafetensorsFile::open(file);
  EXPECT_EQ(std::vector<std::uint8_t>(fresh.at("w").data, fresh.at("w").data + 4096), second);
}
