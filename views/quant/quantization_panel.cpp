#include "quant/quantization_panel.h"

#include "darkroom/workspace.h"
#include "jobs/job_bridge.h"
#include "jobs/job_launcher.h"
#include "quant/matrix_error_model.h"
#include "quant/quant_report_text.h"
#include "quant/quantize_form.h"
#include "quant/tile_error_view.h"

#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace darkroom::views {

namespace {
constexpr const char* kKind = "quantize";
}

QuantizationPanel::QuantizationPanel(JobBridge* jobs, QWidget* parent)
    : QWidget(parent), jobs_(jobs) {
  form_ = new QuantizeForm;
  launcher_ = new JobLauncher(jobs_, tr("Quantize a model"), form_, tr("Quantize"));
  open_ = new QPushButton(tr("Open Report…"));
  open_->setToolTip(tr("Show the report of a quantized model folder (this panel and "
                       "darkroom-cli quantize write them)"));

  auto* left = new QWidget;
  auto* leftLayout = new QVBoxLayout(left);
  leftLayout->setContentsMargins(0, 0, 0, 0);
  leftLayout->addWidget(launcher_);
  leftLayout->addWidget(open_);
  leftLayout->addWidget(launcher_->messageLabel());
  leftLayout->addStretch();
  left->setFixedWidth(330);

  title_ = new QLabel;
  QFont bold = title_->font();
  bold.setBold(true);
  title_->setFont(bold);
  title_->setWordWrap(true);
  title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  perplexity_ = new QLabel;
  perplexity_->setWordWrap(true);
  size_ = new QLabel;
  size_->setWordWrap(true);

  model_ = new MatrixErrorModel(this);
  sorted_ = new QSortFilterProxyModel(this);
  sorted_->setSourceModel(model_);
  sorted_->setSortRole(MatrixErrorModel::SortRole);
  table_ = new QTableView;
  table_->setModel(sorted_);
  table_->setSortingEnabled(true);
  // The worst matrices first: that is where a Q8 override or the other codes pay off.
  table_->sortByColumn(MatrixErrorModel::RelFrobenius, Qt::DescendingOrder);
  table_->verticalHeader()->hide();
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->setWordWrap(false);
  table_->setTextElideMode(Qt::ElideMiddle);  // long names keep their layer and projection
  auto* header = table_->horizontalHeader();
  header->setSectionResizeMode(QHeaderView::ResizeToContents);
  header->setSectionResizeMode(MatrixErrorModel::Name, QHeaderView::Stretch);
  table_->setMinimumWidth(520);  // the numbers stay in view beside a name of ~30 characters
  tiles_ = new TileErrorView;

  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(table_);
  split->addWidget(tiles_);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 1);
  split->setSizes({560, 560});
  split->setChildrenCollapsible(false);

  auto* right = new QVBoxLayout;
  right->addWidget(title_);
  right->addWidget(perplexity_);
  right->addWidget(size_);
  right->addWidget(split, 1);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(left);
  layout->addLayout(right, 1);

  connect(launcher_, &JobLauncher::runClicked, this, [this] { quantize(); });
  connect(open_, &QPushButton::clicked, this, [this] {
    QString start;
    if (workspace_) start = QString::fromStdString((workspace_->root() / "quantized").string());
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Quantized Model Folder"), start);
    if (!dir.isEmpty()) openReport(dir);
  });
  connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this] { showSelected(); });
  if (jobs_) connect(jobs_, &JobBridge::jobEvent, this, &QuantizationPanel::onJobEvent);

  setReport({});
  updateButtons();
  applyTheme();
}

void QuantizationPanel::setWorkspace(Workspace* workspace) {
  workspace_ = workspace;
  updateButtons();
}

std::uint64_t QuantizationPanel::quantize() {
  if (launcher_->refuses(workspace_ && jobs_, form_->problem())) return 0;
  const QuantizeOptions options = form_->options();
  const auto root = workspace_->root();
  const QString title = tr("Quantize %1 (%2, %3)")
                            .arg(QString::fromStdString(options.model),
                                 QString::fromStdString(options.layout),
                                 QString::fromStdString(options.codes));
  // The job opens its own connection: the window keeps reading while the job writes.
  launcher_->start(kKind, title, [root, options](JobContext& ctx) -> std::any {
    auto ws = Workspace::open(root);
    return quantizeModel(ws, options, ctx);
  });
  updateButtons();
  return launcher_->job();
}

bool QuantizationPanel::openReport(const QString& dir) {
  try {
    setReport(loadQuantizeReport(dir.toStdString()));
    launcher_->showMessage(tr("Opened the report of %1.").arg(dir), false);
    return true;
  } catch (const std::exception& e) {
    launcher_->showMessage(
        tr("Cannot open the report of %1: %2").arg(dir, QString::fromUtf8(e.what())), true);
    return false;
  }
}

void QuantizationPanel::setReport(QuantizeReport report) {
  report_ = std::move(report);
  model_->setMatrices(report_.matrices);
  shownMatrix_ = -1;
  if (report_.matrices.empty()) {
    title_->setText(tr("No quantized model shown"));
    perplexity_->setText(tr("Choose a model and press Quantize, or open the report of a folder "
                            "quantized earlier (darkroom-cli quantize writes the same)."));
    size_->clear();
    tiles_->clear(tr("Each matrix's error per 32×32 tile shows here."));
    return;
  }
  title_->setText(reportTitle(report_));
  const QStringList lines = perplexityLines(report_);
  perplexity_->setText(lines.isEmpty() ? tr("No perplexity in this report.") : lines.join('\n'));
  size_->setText(sizeLine(report_));
  selectRow(0);
}

void QuantizationPanel::selectRow(int row) {
  if (row < 0 || row >= sorted_->rowCount()) return;
  table_->setCurrentIndex(sorted_->index(row, MatrixErrorModel::Name));
  table_->selectRow(row);
  showSelected();
}

void QuantizationPanel::showSelected() {
  const QModelIndex current = table_->currentIndex();
  const int source = current.isValid() ? sorted_->mapToSource(current).row() : -1;
  const MatrixQuantError* m = model_->matrixAt(source);
  if (source == shownMatrix_) return;
  shownMatrix_ = m ? source : -1;
  if (m)
    tiles_->setMatrix(*m);
  else
    tiles_->clear(tr("Select a matrix in the table to see where its error sits."));
}

void QuantizationPanel::onJobEvent(const JobEvent& e) {
  if (!launcher_->finished(e)) return;
  if (e.state == JobState::Succeeded && e.result.type() == typeid(QuantizeReport)) {
    auto report = std::any_cast<QuantizeReport>(e.result);
    const QString folder = QString::fromStdString(report.output.string());
    setReport(std::move(report));
    launcher_->showMessage(tr("Done: the quantized model is in %1.").arg(folder), false);
    emit quantized(folder);
  } else {
    launcher_->showEnd(e);
  }
  updateButtons();
}

QString QuantizationPanel::message() const { return launcher_->message(); }
QPushButton* QuantizationPanel::quantizeButton() const { return launcher_->runButton(); }
bool QuantizationPanel::busy() const { return launcher_->busy(); }
QString QuantizationPanel::perplexityText() const { return perplexity_->text(); }
QString QuantizationPanel::sizeText() const { return size_->text(); }

void QuantizationPanel::updateButtons() {
  launcher_->updateButtons(workspace_ != nullptr);
  launcher_->runButton()->setToolTip(
      workspace_ ? tr("Quantize every attention and MLP projection in the background, then "
                      "measure the perplexity")
                 : tr("Needs a workspace (File ▸ Open Workspace)"));
  open_->setEnabled(!launcher_->busy());
}

void QuantizationPanel::applyTheme() { tiles_->applyTheme(); }

}  // namespace darkroom::views
