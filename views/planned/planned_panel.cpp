#include "planned/planned_panel.h"

#include <QLabel>
#include <QVBoxLayout>

namespace darkroom::views {

PlannedPanel::PlannedPanel(const PlannedPanelSpec& spec, QWidget* parent)
    : QWidget(parent), spec_(spec) {
  auto* title = new QLabel(spec.title + " — " + tr("not available yet"));
  title->setObjectName("plannedTitle");
  auto* summary = new QLabel(spec.summary);
  summary->setWordWrap(true);
  QString items = "<ul>";
  for (const auto& line : spec.will_show) items += "<li>" + line.toHtmlEscaped() + "</li>";
  items += "</ul>";
  auto* list = new QLabel(tr("It will show:") + items);
  list->setWordWrap(true);
  list->setTextFormat(Qt::RichText);
  auto* cli = new QLabel(tr("Command line: <code>%1</code> (coming with this panel)")
                             .arg(spec.cli.toHtmlEscaped()));
  cli->setObjectName("emptyState");
  cli->setTextFormat(Qt::RichText);
  cli->setWordWrap(true);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(12, 12, 12, 12);
  layout->addWidget(title);
  layout->addWidget(summary);
  layout->addWidget(list);
  layout->addWidget(cli);
  layout->addStretch();
}

std::vector<PlannedPanelSpec> plannedPanels() {
  // Every panel Darkroom was planned with now exists (Devices and Profile were the last); a new
  // one is announced here until it does.
  return {};
}

}  // namespace darkroom::views
