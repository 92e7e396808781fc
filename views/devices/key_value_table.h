// A filterable table of named values: a device's getprop properties (one column) or the info
// records of several profiles side by side (one column each). Typing in the filter keeps the
// rows whose name or any value contains the text.
#pragma once

#include <QStringList>
#include <QWidget>

#include <map>
#include <string>
#include <vector>

class QLabel;
class QLineEdit;
class QSortFilterProxyModel;
class QStandardItemModel;
class QTableView;

namespace darkroom::views {

class KeyValueTable : public QWidget {
  Q_OBJECT

 public:
  explicit KeyValueTable(const QString& keyHeader, QWidget* parent = nullptr);

  // One column per map, headed by `headers`; rows are the union of the keys, sorted. Empty
  // columns show `emptyText` in place of the table.
  void setColumns(const QStringList& headers,
                  const std::vector<std::map<std::string, std::string>>& columns);
  void clear(const QString& emptyText);

  QLineEdit* filterEdit() const { return filter_; }
  QTableView* view() const { return view_; }
  // Rows shown after filtering, and one cell's text (row in the filtered order).
  int visibleRows() const;
  QString cell(int row, int column) const;
  QString emptyText() const;

 private:
  QString keyHeader_;
  QLineEdit* filter_;
  QStandardItemModel* model_;
  QSortFilterProxyModel* proxy_;
  QTableView* view_;
  QLabel* empty_;
};

}  // namespace darkroom::views
