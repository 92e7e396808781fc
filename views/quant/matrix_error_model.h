// The quantized matrices of a QuantizeReport as a table: name, type, shape, relative Frobenius
// error and largest absolute error. Qt::UserRole holds the raw sort key of every column (the
// shape sorts by element count), so a QSortFilterProxyModel sorts by number, not by text.
#pragma once

#include <darkroom/quant.h>

#include <QAbstractTableModel>

#include <vector>

namespace darkroom::views {

// The name as the table shows it: without the "model." and ".weight" every tensor has (the
// tooltip and the sort key keep the full name).
QString shortMatrixName(const std::string& name);

class MatrixErrorModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { Name, Type, Shape, RelFrobenius, MaxAbs, Columns };
  static constexpr int SortRole = Qt::UserRole;

  using QAbstractTableModel::QAbstractTableModel;

  void setMatrices(std::vector<MatrixQuantError> matrices);
  void clear() { setMatrices({}); }
  const std::vector<MatrixQuantError>& matrices() const { return matrices_; }
  // The matrix of source row `row`; nullptr out of range.
  const MatrixQuantError* matrixAt(int row) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  std::vector<MatrixQuantError> matrices_;
};

}  // namespace darkroom::views
