// The Co-activation panel (Neuralink's offline stage, PAPERS.md §2): a layer's co-activation
// matrix P(ij) in the checkpoint's neuron order beside a placement's order, where neurons that
// fire together become blocks on the diagonal; frequency strips along both orders; a drag zooms
// to a cluster and lists its neurons. Statistics come from a file (CoactStats::load) or a
// recording job on a model; placements from a placement job or a file (Placement::load).
#pragma once

#include <darkroom/neuralink/coact.h>
#include <darkroom/neuralink/placement.h>

#include <QString>
#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

#include "darkroom/jobs.h"
#include "neuralink/coact_matrix.h"

class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableView;

namespace darkroom {
class Workspace;
}

namespace darkroom::views {

class CoactOrderView;
class JobBridge;
class ZoomNeuronModel;

class CoactPanel : public QWidget {
  Q_OBJECT

 public:
  enum class Side { Original, Placement };

  explicit CoactPanel(JobBridge* jobs, QWidget* parent = nullptr);
  ~CoactPanel() override;

  // Recording needs a workspace (the model and its outputs live there); nullptr disables it.
  void setWorkspace(Workspace* workspace);

  // Shows statistics: layer 0, checkpoint order on the left; placements are dropped.
  void setStats(neuralink::CoactStats stats, const QString& title);
  // CoactStats::load; a bad file keeps what is shown and says why. Returns success.
  bool openStats(const QString& path);
  // Records `tokens` tokens of `model` and counts co-activations, as a job; 0 when refused.
  std::uint64_t record(const QString& model, std::int64_t tokens);
  // Places the shown layer with `method`, as a job; 0 when there is nothing to place.
  std::uint64_t placeLayer(neuralink::PlacementMethod method);
  // Placement::load: orders for every layer. Returns success.
  bool loadPlacement(const QString& path);
  // Shows `placement` as the shown layer's placement order (what the job's result does).
  void setLayerPlacement(int layer, neuralink::PlacementMethod method,
                         neuralink::LayerPlacement placement);

  void setLayer(int layer);
  int layer() const;
  int layerCount() const { return int(layers_.size()); }
  // Zooms one side to slots `range` of its order and lists those neurons.
  void zoom(Side side, SlotRange range);
  void resetZoom();
  void setPooling(Pooling pooling);
  void setMaxSide(std::int64_t side);

  CoactOrderView* view(Side side) const;
  ZoomNeuronModel* zoomModel() const { return zoomModel_; }
  QTableView* neuronTable() const { return table_; }
  Side zoomedSide() const { return zoomedSide_; }
  QString message() const;
  bool busy() const { return job_ != 0; }
  QPushButton* recordButton() const { return record_; }
  QPushButton* placeButton() const { return place_; }

 public slots:
  void applyTheme();

 signals:
  // New statistics are shown (a recording finished, a file was opened).
  void statsChanged();
  // A recording saved its activation trace (what the Placement comparison replays).
  void traceRecorded(const QString& path);

 private:
  void onJobEvent(const JobEvent& event);
  void showLayer();
  void showPlacement();
  void showZoomList();
  void showMessage(const QString& text, bool error);
  void updateButtons();
  QString orderDetail(const std::vector<std::int32_t>& order, const QString& what) const;

  JobBridge* jobs_;
  Workspace* workspace_ = nullptr;
  std::vector<std::shared_ptr<const neuralink::LayerCoact>> layers_;
  QString title_;
  // Per layer: the placement shown on the right, when there is one, and its method.
  std::vector<std::optional<neuralink::LayerPlacement>> placed_;
  std::vector<neuralink::PlacementMethod> placedMethod_;
  std::uint64_t job_ = 0;
  QString jobTitle_;
  Side zoomedSide_ = Side::Placement;

  QPushButton* open_;
  QComboBox* model_;
  QSpinBox* tokens_;
  QPushButton* record_;
  QComboBox* layer_;
  QComboBox* method_;
  QPushButton* place_;
  QPushButton* loadPlacement_;
  QComboBox* pooling_;
  QPushButton* whole_;
  QPushButton* stop_;
  QProgressBar* progress_;
  QLabel* summary_;
  QLabel* message_;
  CoactOrderView* original_;
  CoactOrderView* placement_;
  QLabel* zoomLabel_;
  ZoomNeuronModel* zoomModel_;
  QTableView* table_;
};

}  // namespace darkroom::views
