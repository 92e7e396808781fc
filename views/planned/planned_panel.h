// An honest placeholder for a panel that a later part of Darkroom will fill: it says what the
// panel will show and which command will drive it, and shows no data.
#pragma once

#include <QStringList>
#include <QWidget>

namespace darkroom::views {

struct PlannedPanelSpec {
  QString title;
  QString summary;
  QStringList will_show;
  QString cli;  // the darkroom-cli command that will do the same
};

class PlannedPanel : public QWidget {
  Q_OBJECT

 public:
  explicit PlannedPanel(const PlannedPanelSpec& spec, QWidget* parent = nullptr);
  const PlannedPanelSpec& spec() const { return spec_; }

 private:
  PlannedPanelSpec spec_;
};

// The panels Darkroom will have beyond Runs, Log and Engine, in menu order.
std::vector<PlannedPanelSpec> plannedPanels();

}  // namespace darkroom::views
