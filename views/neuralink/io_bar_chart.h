// A grouped bar chart: categories along x (cache policies, read-length buckets), one coloured
// bar per series (placement) in each category. The comparison panel draws every metric with it.
#pragma once

#include <qcustomplot.h>

#include <QString>
#include <QStringList>
#include <vector>

namespace darkroom::views {

class IoBarChart : public QCustomPlot {
  Q_OBJECT

 public:
  explicit IoBarChart(const QString& title, const QString& unit, QWidget* parent = nullptr);
  // values[series][category]; NaN leaves a gap (a combination that was not run).
  void setBars(const QStringList& categories, const QStringList& series,
               const std::vector<std::vector<double>>& values);
  // A dashed line between categories `after` and after + 1, with a caption on each side at the
  // top (the comparison's "no collapse | collapse" halves). Cleared by the next setBars.
  void setDivider(int after, const QString& left, const QString& right);
  void clearBars();
  void applyTheme();

  int seriesCount() const { return int(bars_.size()); }
  // The value drawn for (series, category); NaN when there is none.
  double value(int series, int category) const;
  QString title() const { return title_->text(); }
  void setTitle(const QString& title);

 private:
  QCPTextElement* title_;
  QCPBarsGroup* group_;
  std::vector<QCPBars*> bars_;
  std::vector<QCPAbstractItem*> divider_;
};

}  // namespace darkroom::views
