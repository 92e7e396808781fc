#include "devices/key_value_table.h"

#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QSortFilterProxyModel>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <set>

namespace darkroom::views {

KeyValueTable::KeyValueTable(const QString& keyHeader, QWidget* parent)
    : QWidget(parent), keyHeader_(keyHeader) {
  filter_ = new QLineEdit;
  filter_->setPlaceholderText(tr("Filter (name or value)"));
  filter_->setClearButtonEnabled(true);
  model_ = new QStandardItemModel(this);
  proxy_ = new QSortFilterProxyModel(this);
  proxy_->setSourceModel(model_);
  proxy_->setFilterKeyColumn(-1);  // any column
  proxy_->setFilterCaseSensitivity(Qt::CaseInsensitive);
  view_ = new QTableView;
  view_->setModel(proxy_);
  view_->setSortingEnabled(true);
  view_->sortByColumn(0, Qt::AscendingOrder);
  view_->setSelectionBehavior(QAbstractItemView::SelectRows);
  view_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  view_->setWordWrap(false);
  view_->verticalHeader()->hide();
  view_->verticalHeader()->setDefaultSectionSize(view_->fontMetrics().height() + 6);
  view_->horizontalHeader()->setStretchLastSection(true);
  empty_ = new QLabel;
  empty_->setObjectName("emptyState");
  empty_->setWordWrap(true);
  empty_->setAlignment(Qt::AlignCenter);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(filter_);
  layout->addWidget(view_, 1);
  layout->addWidget(empty_, 1);
  connect(filter_, &QLineEdit::textChanged, proxy_, &QSortFilterProxyModel::setFilterFixedString);
  clear({});
}

void KeyValueTable::setColumns(const QStringList& headers,
                               const std::vector<std::map<std::string, std::string>>& columns) {
  std::set<std::string> keys;
  for (const auto& column : columns)
    for (const auto& [key, value] : column) keys.insert(key);
  if (keys.empty()) {
    clear(tr("Nothing to show."));
    return;
  }
  model_->clear();
  model_->setHorizontalHeaderLabels(QStringList{keyHeader_} + headers);
  for (const auto& key : keys) {
    QList<QStandardItem*> row{new QStandardItem(QString::fromStdString(key))};
    for (const auto& column : columns) {
      const auto it = column.find(key);
      auto* item = new QStandardItem(it == column.end() ? QString() : QString::fromStdString(it->second));
      item->setToolTip(item->text());
      row << item;
    }
    model_->appendRow(row);
  }
  view_->resizeColumnToContents(0);
  // The names column wide enough for most names without crowding out the values.
  view_->setColumnWidth(0, std::min(view_->columnWidth(0), 320));
  view_->show();
  filter_->setEnabled(true);
  empty_->hide();
}

void KeyValueTable::clear(const QString& emptyText) {
  model_->clear();
  empty_->setText(emptyText);
  empty_->setVisible(!emptyText.isEmpty());
  view_->setVisible(emptyText.isEmpty());
  filter_->setEnabled(false);
}

int KeyValueTable::visibleRows() const { return proxy_->rowCount(); }

QString KeyValueTable::cell(int row, int column) const {
  return proxy_->index(row, column).data().toString();
}

QString KeyValueTable::emptyText() const { return empty_->isHidden() ? QString() : empty_->text(); }

}  // namespace darkroom::views
