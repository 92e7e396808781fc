// The charts of one profile kind laid out together (flash sweep: throughput, IOPS and latency
// percentiles; flash replay: latency per token; kernels: time and bandwidth per batch; monitor:
// temperatures and core frequencies; info: a table), with a summary line made from the final
// result records and a filter for one variant (a read pattern × depth, a kernel). The Profile
// panel has two: the live run and the comparison of stored profiles.
#pragma once

#include "devices/profile_chart.h"
#include "devices/profile_series.h"

#include <QWidget>

#include <map>
#include <vector>

class QComboBox;
class QLabel;
class QStackedWidget;

namespace darkroom::views {

class KeyValueTable;

class ProfileChartSet : public QWidget {
  Q_OBJECT

 public:
  explicit ProfileChartSet(QWidget* parent = nullptr);

  // Shows the page of a profile kind ("flash-sweep", …; anything else: the empty page).
  void setKind(const std::string& kind);
  const std::string& kind() const { return kind_; }
  // Draws `data` (of the current kind) for these profiles; `empty` is said where nothing is drawn.
  void draw(const ProfileSeriesBuilder& data, const std::vector<ChartSource>& sources,
            const QString& empty);
  // Draws the last data again (after a theme change or a new variant filter).
  void redraw();

  ProfileChartView* chart(ProfileChartId id) const;
  KeyValueTable* infoTable() const { return info_; }
  QComboBox* variantBox() const { return variant_; }
  QString summaryText() const;
  // The variant drawn alone; empty: all of them.
  std::string variantFilter() const;

 public slots:
  void applyTheme();

 private:
  void updateVariants(const ProfileSeriesBuilder& data);
  void updateSummary(const ProfileSeriesBuilder& data, const std::vector<ChartSource>& sources);
  void updateInfo(const ProfileSeriesBuilder& data, const std::vector<ChartSource>& sources);

  std::string kind_;
  std::map<ProfileChartId, ProfileChartView*> charts_;
  std::map<std::string, QWidget*> pages_;
  QStackedWidget* stack_;
  QLabel* emptyPage_;
  KeyValueTable* info_;
  QComboBox* variant_;
  QLabel* variantLabel_;
  QLabel* summary_;
  // The last draw, for redraw().
  const ProfileSeriesBuilder* data_ = nullptr;
  std::vector<ChartSource> sources_;
  QString empty_;
};

// The flattened fields of an info record as text (numbers in their shortest form).
std::map<std::string, std::string> recordFields(const device::AgentRecord& record);

}  // namespace darkroom::views
