// IEEE 754 half precision ⇄ float32 in portable C++ (no F16C needed): the quantized formats'
// scales and the LUT softmax's table index are fp16 bit patterns.
#pragma once

#include <cstdint>

namespace darkroom::kernels {

// Round to nearest even; overflow gives ±Inf, NaN stays NaN.
std::uint16_t floatToHalf(float value);
float halfToFloat(std::uint16_t half);

}  // namespace darkroom::kernels
