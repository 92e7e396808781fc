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
  return {
      {QObject::tr("Devices"),
       QObject::tr("Connected Android phones (and the simulated phone) over ADB."),
       {QObject::tr("devices as they are plugged and unplugged"),
        QObject::tr("push of the agent, layouts and models with progress"),
        QObject::tr("live flash and kernel benchmarks, stored as device profiles")},
       "darkroom-cli devices / profile"},
  };
}

}  // namespace darkroom::views
