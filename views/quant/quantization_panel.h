// The Quantization panel (PAPERS.md §3): quantizes a model's projections to tile-aligned (or
// row-major) 4-bit weights as a job, then shows every matrix's error in a sortable table, the
// perplexity of float32 next to the quantized model, bits per weight and size, and the error of
// the selected matrix per 32×32 tile as a heatmap. "Open Report…" shows a quantized folder
// written earlier (by this panel or darkroom-cli quantize).
#pragma once

#include <darkroom/jobs.h>
#include <darkroom/quant.h>

#include <QString>
#include <QWidget>

class QLabel;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;

namespace darkroom {
class Workspace;
}

namespace darkroom::views {

class JobBridge;
class JobLauncher;
class MatrixErrorModel;
class QuantizeForm;
class TileErrorView;

class QuantizationPanel : public QWidget {
  Q_OBJECT

 public:
  explicit QuantizationPanel(JobBridge* jobs, QWidget* parent = nullptr);

  // Quantizing needs a workspace (models and outputs live there); nullptr disables it.
  void setWorkspace(Workspace* workspace);
  // Quantizes with the form's options as a job; 0 when refused (the message says why).
  std::uint64_t quantize();
  // loadQuantizeReport; a bad folder keeps what is shown and says why. Returns success.
  bool openReport(const QString& quantizedDir);
  // Shows a report (the job's, a loaded one, or a hand-built one in tests).
  void setReport(QuantizeReport report);
  const QuantizeReport& report() const { return report_; }
  // Shows the matrix at `row` of the table as sorted on screen.
  void selectRow(int row);
  // The source row (index into report().matrices) of the matrix the heatmap shows; −1: none.
  int shownMatrix() const { return shownMatrix_; }

  QuantizeForm* form() const { return form_; }
  MatrixErrorModel* errorModel() const { return model_; }
  QSortFilterProxyModel* sortedModel() const { return sorted_; }
  QTableView* table() const { return table_; }
  TileErrorView* tileView() const { return tiles_; }
  QPushButton* quantizeButton() const;
  QString message() const;
  QString perplexityText() const;
  QString sizeText() const;
  bool busy() const;

 public slots:
  void applyTheme();

 signals:
  // A quantization finished and wrote a model folder.
  void quantized(const QString& folder);

 private:
  void onJobEvent(const JobEvent& event);
  void showSelected();
  void updateButtons();

  JobBridge* jobs_;
  Workspace* workspace_ = nullptr;
  QuantizeReport report_;
  int shownMatrix_ = -1;

  QuantizeForm* form_;
  JobLauncher* launcher_;
  QPushButton* open_;
  QLabel* title_;
  QLabel* perplexity_;
  QLabel* size_;
  MatrixErrorModel* model_;
  QSortFilterProxyModel* sorted_;
  QTableView* table_;
  TileErrorView* tiles_;
};

}  // namespace darkroom::views
