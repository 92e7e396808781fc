// One chart of a device profile (a QCustomPlot): the series of one ProfileChartId from a
// ProfileSeriesBuilder, for one profile (colour = read pattern × depth, kernel, zone or core)
// or several stored ones overlaid (colour = profile, marker and dash = variant). Percentiles are
// told apart by dash style. The legend lists colours and styles once each, in a column right of
// the axes so it never covers the data. Redrawing keeps the graphs that already exist and only
// swaps their points, so a 25 Hz live redraw stays cheap.
#pragma once

#include "devices/profile_series.h"

#include <qcustomplot.h>

#include <QString>

#include <map>
#include <tuple>
#include <vector>

namespace darkroom::views {

// A profile drawn in a chart: its legend name ("Pixel 8 · fast layout · 2024-05-01 14:03").
struct ChartSource {
  QString name;
  bool simulated = false;
};

class ProfileChartView : public QCustomPlot {
  Q_OBJECT

 public:
  explicit ProfileChartView(ProfileChartId chart, QWidget* parent = nullptr);

  ProfileChartId chartId() const { return chart_; }
  // Draws the chart's series. More than one source: colour tells the profiles apart. A
  // non-empty `variant` draws only that variant. Nothing to draw shows `empty` in the middle.
  void draw(const ProfileSeriesBuilder& data, const std::vector<ChartSource>& sources,
            const QString& empty, const std::string& variant = {});
  // Colours of the theme; the owner draws again afterwards (legend keys are rebuilt then).
  void applyTheme();
  void setLegendShown(bool shown);

  // The graph of one series (nullptr when not drawn), how many data graphs are drawn and their
  // points; legend entries (colour and style keys) are separate graphs without data.
  QCPGraph* seriesGraph(int source, const std::string& variant, const std::string& measure = {}) const;
  int dataGraphCount() const { return int(graphs_.size()); }
  int drawnPoints() const;
  QStringList legendNames() const;
  QString title() const { return title_->text(); }
  QString emptyText() const;

  static QString chartTitle(ProfileChartId chart);

 private:
  void setAxes(const std::vector<const ChartSeries*>& shown);
  void rebuildKeys(const std::vector<std::string>& variants, const std::vector<std::string>& measures,
                   const std::vector<ChartSource>& sources, bool bySource);

  ProfileChartId chart_;
  QCPTextElement* title_;
  QCPItemText* empty_;
  QCPLayoutGrid* legendColumn_;
  bool legendShown_ = true;
  std::map<std::tuple<int, std::string, std::string>, QCPGraph*> graphs_;
  std::vector<QCPGraph*> keys_;      // legend-only graphs
  QString keySignature_;             // what the keys show, to rebuild them only on change
};

}  // namespace darkroom::views
