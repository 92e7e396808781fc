// The comma-separated lists typed into the NPU panels' launch forms: integers ("1, 2, 4"),
// matrix shapes ("4096x4096, 11008x4096") and names. A bad entry gives an error that quotes it
// and says what is expected, for the panel to show next to its Run button.
#pragma once

#include <QString>
#include <QStringList>

#include <cstdint>
#include <utility>
#include <vector>

namespace darkroom::views {

// Entries separated by commas and/or spaces. `what` names the field in errors ("batch sizes").
// Each value must lie in [min, max]; at least one is required. On error returns {} and sets
// *error.
std::vector<std::int64_t> parseIntegerList(const QString& text, std::int64_t min, std::int64_t max,
                                           const QString& what, QString* error);
// "rows x cols" entries ('x', 'X', '×' or '*' between), each side in [1, 1 << 20].
std::vector<std::pair<std::int64_t, std::int64_t>> parseShapeList(const QString& text,
                                                                  QString* error);
// Non-empty names separated by commas (names may hold spaces: folders do).
QStringList parseNameList(const QString& text);

QString joinIntegers(const std::vector<std::int64_t>& values);
QString joinShapes(const std::vector<std::pair<std::int64_t, std::int64_t>>& shapes);

}  // namespace darkroom::views
