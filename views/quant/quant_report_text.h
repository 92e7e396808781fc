// The sentences under the Quantization panel's title: perplexity of float32 next to the quantized
// model per evaluation source, bits per weight (darkroom::bitsPerWeight) and sizes. Plain
// functions, so tests read them.
#pragma once

#include <darkroom/quant.h>

#include <QString>
#include <QStringList>

namespace darkroom::views {

// "built-in corpus (8192 tokens): float32 12.34 → quantized 12.61 (+2.2 %)", one per source.
QStringList perplexityLines(const QuantizeReport& report);
// "4.53 bits/weight · 12.0 MiB → 1.7 MiB (7.1× smaller) in 28 matrices · 3.1 s"
QString sizeLine(const QuantizeReport& report);
// "demo-math-s · tile · q4_0 → <output folder>"
QString reportTitle(const QuantizeReport& report);
QString formatBytes(std::uint64_t bytes);

}  // namespace darkroom::views
