#include "quant/number_lists.h"

#include <QObject>
#include <QRegularExpression>

namespace darkroom::views {

namespace {

QStringList entries(const QString& text) {
  static const QRegularExpression separators(QStringLiteral("[,;\\s]+"));
  return text.split(separators, Qt::SkipEmptyParts);
}

}  // namespace

std::vector<std::int64_t> parseIntegerList(const QString& text, std::int64_t min, std::int64_t max,
                                           const QString& what, QString* error) {
  std::vector<std::int64_t> values;
  const QStringList parts = entries(text);
  if (parts.isEmpty()) {
    if (error) *error = QObject::tr("Enter at least one of the %1, e.g. %2.").arg(what).arg(min);
    return {};
  }
  for (const QString& part : parts) {
    bool ok = false;
    const qlonglong v = part.toLongLong(&ok);
    if (!ok || v < min || v > max) {
      if (error)
        *error = QObject::tr("\"%1\" is not one of the %2: whole numbers from %3 to %4, separated "
                             "by commas.")
                     .arg(part, what)
                     .arg(min)
                     .arg(max);
      return {};
    }
    values.push_back(v);
  }
  return values;
}

std::vector<std::pair<std::int64_t, std::int64_t>> parseShapeList(const QString& text,
                                                                  QString* error) {
  static const QRegularExpression shape(
      QStringLiteral("^\\s*(\\d+)\\s*[xX\\x{00D7}*]\\s*(\\d+)\\s*$"));
  constexpr std::int64_t kMaxSide = std::int64_t(1) << 20;
  std::vector<std::pair<std::int64_t, std::int64_t>> shapes;
  const QStringList parts = text.split(',', Qt::SkipEmptyParts);
  for (const QString& part : parts) {
    if (part.trimmed().isEmpty()) continue;
    const auto match = shape.match(part);
    bool okRows = false, okCols = false;
    const qlonglong rows = match.hasMatch() ? match.captured(1).toLongLong(&okRows) : 0;
    const qlonglong cols = match.hasMatch() ? match.captured(2).toLongLong(&okCols) : 0;
    if (!okRows || !okCols || rows < 1 || cols < 1 || rows > kMaxSide || cols > kMaxSide) {
      if (error)
        *error = QObject::tr("\"%1\" is not a matrix shape: write rows x columns, e.g. 4096x4096, "
                             "each side from 1 to %2, shapes separated by commas.")
                     .arg(part.trimmed())
                     .arg(kMaxSide);
      return {};
    }
    shapes.emplace_back(rows, cols);
  }
  if (shapes.empty() && error)
    *error = QObject::tr("Enter at least one matrix shape, e.g. 4096x4096.");
  return shapes;
}

QStringList parseNameList(const QString& text) {
  QStringList names;
  for (const QString& part : text.split(',', Qt::SkipEmptyParts))
    if (!part.trimmed().isEmpty()) names << part.trimmed();
  return names;
}

QString joinIntegers(const std::vector<std::int64_t>& values) {
  QStringList parts;
  for (const auto v : values) parts << QString::number(v);
  return parts.join(QStringLiteral(", "));
}

QString joinShapes(const std::vector<std::pair<std::int64_t, std::int64_t>>& shapes) {
  QStringList parts;
  for (const auto& [rows, cols] : shapes) parts << QStringLiteral("%1x%2").arg(rows).arg(cols);
  return parts.join(QStringLiteral(", "));
}

}  // namespace darkroom::views
