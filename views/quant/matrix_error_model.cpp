#include "quant/matrix_error_model.h"

namespace darkroom::views {

QString shortMatrixName(const std::string& name) {
  QString shown = QString::fromStdString(name);
  // Every tensor of a checkpoint shares these; without them the layer and projection fit.
  if (shown.startsWith(QStringLiteral("model."))) shown.remove(0, 6);
  if (shown.endsWith(QStringLiteral(".weight"))) shown.chop(7);
  return shown;
}

void MatrixErrorModel::setMatrices(std::vector<MatrixQuantError> matrices) {
  beginResetModel();
  matrices_ = std::move(matrices);
  endResetModel();
}

const MatrixQuantError* MatrixErrorModel::matrixAt(int row) const {
  return row >= 0 && row < int(matrices_.size()) ? &matrices_[std::size_t(row)] : nullptr;
}

int MatrixErrorModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : int(matrices_.size());
}

int MatrixErrorModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : Columns;
}

QVariant MatrixErrorModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.parent().isValid()) return {};
  const MatrixQuantError* m = matrixAt(index.row());
  if (!m) return {};
  const int column = index.column();
  switch (role) {
    case Qt::DisplayRole:
      switch (column) {
        case Name: return shortMatrixName(m->name);
        case Type: return QString::fromStdString(m->type);
        case Shape: return QStringLiteral("%1 × %2").arg(m->rows).arg(m->cols);
        case RelFrobenius: return QString::number(m->rel_frobenius, 'f', 5);
        case MaxAbs: return QString::number(m->max_abs, 'g', 4);
        default: return {};
      }
    case SortRole:
      switch (column) {
        case Name: return QString::fromStdString(m->name);
        case Type: return QString::fromStdString(m->type);
        case Shape: return qlonglong(m->rows * m->cols);
        case RelFrobenius: return m->rel_frobenius;
        case MaxAbs: return m->max_abs;
        default: return {};
      }
    case Qt::ToolTipRole:
      if (column == Name) return QString::fromStdString(m->name);
      if (column == RelFrobenius)
        return tr("‖W − Q‖ / ‖W‖ over the whole matrix: %1 %").arg(m->rel_frobenius * 100, 0, 'f', 3);
      if (column == MaxAbs) return tr("The largest |W − Q| of any weight");
      return {};
    case Qt::TextAlignmentRole:
      return int((column == Name || column == Type ? Qt::AlignLeft : Qt::AlignRight) |
                 Qt::AlignVCenter);
    default:
      return {};
  }
}

QVariant MatrixErrorModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  if (role == Qt::DisplayRole) {
    switch (section) {
      case Name: return tr("matrix");
      case Type: return tr("type");
      case Shape: return tr("shape");
      case RelFrobenius: return tr("rel. Frobenius");
      case MaxAbs: return tr("max |error|");
      default: return {};
    }
  }
  if (role == Qt::ToolTipRole && section == RelFrobenius)
    return tr("‖W − Q‖_F / ‖W‖_F: the relative error of the quantized matrix Q");
  return {};
}

}  // namespace darkroom::views
