// One blocks × blocks attention map as a colour map: key blocks across, query blocks down (as the
// attention matrix is written), cells square. Blocks a causal model never computes (above the
// diagonal) hold NaN and are drawn grey.
#pragma once

#include <darkroom/sparsity.h>

#include <qcustomplot.h>

namespace darkroom::views {

class AttentionMapPlot : public QCustomPlot {
  Q_OBJECT

 public:
  explicit AttentionMapPlot(const QString& title, QWidget* parent = nullptr);

  // Shows `map` (row = query block) on the colour scale [low, high]; levels > 0 makes the scale
  // discrete, with that many colours.
  void setMap(const Array2D& map, double low, double high, const QCPColorGradient& gradient,
              const QString& scaleLabel, int levels = 0);
  void setTitle(const QString& title);
  void clearMap();

  QCPColorMap* colorMap() const { return map_; }
  QCPColorScale* colorScale() const { return scale_; }
  void applyTheme();

 private:
  void keepCellsSquare();

  QCPTextElement* title_;
  QCPColorMap* map_;
  QCPColorScale* scale_;
};

// Whether a causal model attends from query block `query` to key block `key`: keys up to the
// query's own block. With more keys than queries (a cache before them) the queries are the last.
bool isCausalBlock(std::int64_t query, std::int64_t key, std::int64_t queries, std::int64_t keys);

}  // namespace darkroom::views
