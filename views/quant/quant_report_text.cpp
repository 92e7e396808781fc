#include "quant/quant_report_text.h"

#include <QObject>

namespace darkroom::views {

QString formatBytes(std::uint64_t bytes) {
  const double b = double(bytes);
  if (b >= 1024.0 * 1024 * 1024) return QObject::tr("%1 GiB").arg(b / (1024.0 * 1024 * 1024), 0, 'f', 2);
  if (b >= 1024.0 * 1024) return QObject::tr("%1 MiB").arg(b / (1024.0 * 1024), 0, 'f', 1);
  if (b >= 1024.0) return QObject::tr("%1 KiB").arg(b / 1024.0, 0, 'f', 1);
  return QObject::tr("%1 B").arg(bytes);
}

QStringList perplexityLines(const QuantizeReport& report) {
  QStringList lines;
  for (const auto& p : report.perplexity) {
    const double change = p.fp32 > 0 ? (p.quantized / p.fp32 - 1.0) * 100.0 : 0.0;
    lines << QObject::tr("%1 (%2 tokens): perplexity float32 %3 → quantized %4 (%5%6 %)")
                 .arg(QString::fromStdString(p.source))
                 .arg(p.tokens)
                 .arg(p.fp32, 0, 'f', 3)
                 .arg(p.quantized, 0, 'f', 3)
                 .arg(change >= 0 ? QStringLiteral("+") : QString())
                 .arg(change, 0, 'f', 2);
  }
  return lines;
}

QString sizeLine(const QuantizeReport& report) {
  const double ratio = report.bytes_quantized > 0
                           ? double(report.bytes_fp32) / double(report.bytes_quantized)
                           : 0.0;
  return QObject::tr("%1 bits/weight · %2 → %3 (%4× smaller) in %n matrices · %5 s", nullptr,
                     int(report.matrices.size()))
      .arg(bitsPerWeight(report), 0, 'f', 2)
      .arg(formatBytes(report.bytes_fp32), formatBytes(report.bytes_quantized))
      .arg(ratio, 0, 'f', 1)
      .arg(report.seconds, 0, 'f', 1);
}

QString reportTitle(const QuantizeReport& report) {
  QString title = QStringLiteral("%1 · %2 · %3")
                      .arg(QString::fromStdString(report.model), QString::fromStdString(report.layout),
                           QString::fromStdString(report.codes));
  if (!report.output.empty())
    title += QObject::tr(" → %1").arg(QString::fromStdString(report.output.string()));
  if (report.run_id > 0) title += QObject::tr(" (run #%1)").arg(report.run_id);
  return title;
}

}  // namespace darkroom::views
