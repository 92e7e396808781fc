// Scalar reference of the quantized products: every weight is found through groupSlot and read
// from the bytes exactly as quant_matrix.h describes them, one value at a time. Sums are in
// double so that the other back ends are compared with the exact product of the stored values.
#include <vector>

#include "quant_gemm_impl.h"

namespace darkroom::kernels::detail {
namespace {

using Index = std::int64_t;

// Where group `group` starts in the packed bytes, and where its fp16 scale is.
struct GroupPlace {
  const std::uint8_t* block;  // the group's RowGroups block, or its super-block
  int groupInBlock;           // 0..7 in a super-block, 0 in a RowGroups block
};

bool fourBit(QuantType type) { return type != QuantType::Q8_0; }

GroupPlace place(const QuantMatrixView& w, Index group) {
  if (w.layout == QuantLayout::RowGroups)
    return {w.data + group * (fourBit(w.type) ? 18 : 34), 0};
  const Index superBlock = group / kSuperBlockGroups;
  return {w.data + superBlock * (fourBit(w.type) ? 144 : 272),
          static_cast<int>(group % kSuperBlockGroups)};
}

float scaleOf(const QuantMatrixView& w, const GroupPlace& g) {
  const std::uint8_t* s = w.layout == QuantLayout::RowGroups
                              ? g.block
                              : g.block + (fourBit(w.type) ? 128 : 256) + 2 * g.groupInBlock;
  return halfToFloat(static_cast<std::uint16_t>(s[0] | (s[1] << 8)));
}

// The code of element `position` of a group: 0..15 for 4-bit types, -127..127 for Q8_0.
int codeOf(const QuantMatrixView& w, const GroupPlace& g, int position) {
  if (w.layout == QuantLayout::RowGroups) {
    const std::uint8_t* codes = g.block + 2;
    if (!fourBit(w.type)) return static_cast<std::int8_t>(codes[position]);
    return position < 16 ? codes[position] & 15 : codes[position - 16] >> 4;
  }
  const int value = g.groupInBlock * kQuantGroup + position;  // 0..255 in the super-block
  if (!fourBit(w.type)) return static_cast<std::int8_t>(g.block[value]);
  return value < 128 ? g.block[value] & 15 : g.block[value - 128] >> 4;
}

float weight(const QuantMatrixView& w, Index n, Index k, Dequant mode) {
  const GroupSlot slot = groupSlot(w.layout, w.rows, w.cols, n, k);
  const GroupPlace g = place(w, slot.group);
  const int code = codeOf(w, g, slot.position);
  const float d = scaleOf(w, g);
  if (w.type == QuantType::Q8_0) return static_cast<float>(code) * d;
  if (mode == Dequant::Unpack) return (static_cast<float>(code) - 8.0f) * d;
  return codeTable(w.type)[code] * d;
}

}  // namespace

void quantGemmRef(const QuantMatrixView& w, const float* x, Index batch, float* y,
                  Dequant mode) {
  std::vector<float> row(static_cast<std::size_t>(w.cols));
  for (Index n = 0; n < w.rows; ++n) {
    for (Index k = 0; k < w.cols; ++k) row[static_cast<std::size_t>(k)] = weight(w, n, k, mode);
    for (Index b = 0; b < batch; ++b) {
      double sum = 0;
      for (Index k = 0; k < w.cols; ++k) sum += double(x[b * w.cols + k]) * row[std::size_t(k)];
      y[b * w.rows + n] = static_cast<float>(sum);
    }
  }
}

void denseGemmRef(const float* w, Index rows, Index cols, const float* x, Index batch,
                  float* y) {
  for (Index b = 0; b < batch; ++b)
    for (Index n = 0; n < rows; ++n) {
      double sum = 0;
      for (Index k = 0; k < cols; ++k) sum += double(x[b * cols + k]) * w[n * cols + k];
      y[b * rows + n] = static_cast<float>(sum);
    }
}

}  // namespace darkroom::kernels::detail
