// The byte format of flash layout files (docs/flash-layout.md), shared by the writer, the reader
// and the tests that corrupt files on purpose. All integers little-endian.
#pragma once

#include <cstdint>

namespace darkroom::neuralink::layout_format {

inline constexpr char kMagic[8] = {'D', 'R', 'L', 'A', 'Y', 'O', 'U', 'T'};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::uint32_t kHeaderBytes = 128;
inline constexpr std::uint32_t kEntryBytes = 64;  // one layer table entry
inline constexpr std::uint32_t kAlignment = 4096;
inline constexpr std::uint32_t kMaxLayers = 1u << 16;

// Header field offsets.
inline constexpr int kVersionAt = 8, kHeaderBytesAt = 12, kLayerCountAt = 16, kDtypeAt = 20,
                     kAlignmentAt = 24, kBundleAt = 28, kModelTypeAt = 32, kHiddenAt = 64,
                     kTableOffsetAt = 72, kTableBytesAt = 80, kOrdersOffsetAt = 88,
                     kFileBytesAt = 96, kPlacementAt = 104, kHeaderCrcAt = 124;
inline constexpr int kModelTypeBytes = 32, kPlacementBytes = 20;

// Layer table entry field offsets.
inline constexpr int kNeuronsAt = 0, kBundleBytesAt = 8, kDataOffsetAt = 16, kDataBytesAt = 24,
                     kOrderOffsetAt = 32, kOrderCrcAt = 40, kDataCrcAt = 44, kLayerIndexAt = 48;

enum Dtype : std::uint32_t { kF32 = 0, kF16 = 1, kBF16 = 2, kU8 = 3 };
enum Bundle : std::uint32_t { kOpaque = 0, kOpt = 1, kGated = 2 };

}  // namespace darkroom::neuralink::layout_format
