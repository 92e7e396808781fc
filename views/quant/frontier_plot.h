// The test-time-scaling frontier: accuracy against cost (generated tokens, wall time or CPU time
// per problem) for every model × method × budget N. One colour per model, one marker per method,
// N written beside each point; the Pareto points (core's paretoFront: no other point is both
// cheaper and more accurate) are ringed and joined by the front's staircase. Hovering a point
// shows its details.
#pragma once

#include <darkroom/scaling.h>

#include <qcustomplot.h>

#include <QString>
#include <QStringList>

#include <vector>

namespace darkroom::views {

double costOf(const TtsPoint& point, FrontierCost cost);
QString costAxisLabel(FrontierCost cost);
QString methodDisplayName(const std::string& method);
// A built-in name as it is; a model folder by its last path component.
QString modelDisplayName(const std::string& model);  // "bon" → "Best-of-N", …
// The tooltip of a point: model, weights, method, N, accuracy, costs, reward, run.
QString pointDetails(const TtsPoint& point);

class FrontierPlot : public QCustomPlot {
  Q_OBJECT

 public:
  explicit FrontierPlot(QWidget* parent = nullptr);

  void setPoints(std::vector<TtsPoint> points, FrontierCost cost);
  void setCost(FrontierCost cost);
  FrontierCost cost() const { return cost_; }
  const std::vector<TtsPoint>& points() const { return points_; }
  // Indices into points() of the ringed Pareto points, cheapest first.
  const std::vector<std::size_t>& pareto() const { return pareto_; }
  // One graph per model × method (nullptr when there is none), and how many there are.
  QCPGraph* seriesGraph(const std::string& model, const std::string& method) const;
  int seriesCount() const { return int(series_.size()); }
  QCPGraph* paretoMarkers() const { return paretoMarkers_; }
  QCPGraph* paretoLine() const { return paretoLine_; }
  // The "N=…" labels beside the points, in points() order.
  QStringList pointLabels() const;
  // The point drawn within `radius` pixels of `pos` (widget coordinates), nearest; −1: none.
  int pointAt(const QPointF& pos, double radius = 8) const;
  // Where point i is drawn, in widget coordinates.
  QPointF pointPosition(std::size_t i) const;
  QString hoverText() const { return hoverText_; }
  void applyTheme();

 protected:
  void mouseMoveEvent(QMouseEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  void redraw();

  std::vector<TtsPoint> points_;
  FrontierCost cost_ = FrontierCost::Tokens;
  std::vector<std::size_t> pareto_;
  struct Series {
    std::string model, method;
    QCPGraph* graph;
  };
  std::vector<Series> series_;
  std::vector<QCPItemText*> labels_;
  QCPGraph* paretoMarkers_ = nullptr;
  QCPGraph* paretoLine_ = nullptr;
  QCPTextElement* title_;
  QString hoverText_;
};

}  // namespace darkroom::views
