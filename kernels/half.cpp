#include "darkroom/kernels/half.h"

#include <cstring>

namespace darkroom::kernels {

std::uint16_t floatToHalf(float value) {
  std::uint32_t f;
  std::memcpy(&f, &value, 4);
  const std::uint32_t sign = (f >> 16) & 0x8000u;
  const std::uint32_t abs = f & 0x7fffffffu;
  if (abs >= 0x7f800000u)  // Inf or NaN (NaN keeps a quiet payload bit)
    return std::uint16_t(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  if (abs >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds past 65504: Inf
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    if (abs < 0x33000000u) return std::uint16_t(sign);  // under half of the smallest subnormal
    const std::uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const int shift = 126 - int(abs >> 23);  // 14..24 bits of the mantissa drop out
    const std::uint32_t half = mantissa >> (shift);
    const std::uint32_t rest = mantissa & ((1u << shift) - 1), midway = 1u << (shift - 1);
    const std::uint32_t rounded = half + (rest > midway || (rest == midway && (half & 1u)));
    return std::uint16_t(sign | rounded);
  }
  // Normal: rebias the exponent (127 → 15) and round the 13 dropped mantissa bits to even.
  const std::uint32_t rebased = abs - 0x38000000u;
  const std::uint32_t half = rebased >> 13, rest = rebased & 0x1fffu;
  return std::uint16_t(sign | (half + (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))));
}

float halfToFloat(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu, f;
  if (exponent == 0x1f) {
    f = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    f = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    f = sign;
  } else {  // subnormal: normalise
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while (!(mantissa & 0x400u));
    f = sign | (std::uint32_t(112 - e) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float out;
  std::memcpy(&out, &f, 4);
  return out;
}

}  // namespace darkroom::kernels
