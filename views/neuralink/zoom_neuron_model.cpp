#include "neuralink/zoom_neuron_model.h"

#include <algorithm>

namespace darkroom::views {

void ZoomNeuronModel::set(std::shared_ptr<const neuralink::LayerCoact> stats,
                          std::vector<std::int32_t> order, SlotRange range) {
  beginResetModel();
  stats_ = std::move(stats);
  order_ = std::move(order);
  const auto n = std::int64_t(order_.size());
  range_ = {std::clamp<std::int64_t>(range.first, 0, n),
            std::clamp<std::int64_t>(range.end, 0, n)};
  if (range_.end < range_.first) range_.end = range_.first;
  endResetModel();
}

void ZoomNeuronModel::clear() {
  beginResetModel();
  stats_.reset();
  order_.clear();
  range_ = {};
  endResetModel();
}

std::int32_t ZoomNeuronModel::neuronAt(int row) const {
  return order_[std::size_t(range_.first + row)];
}

int ZoomNeuronModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() || !stats_ ? 0 : int(range_.size());
}

int ZoomNeuronModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : Columns;
}

QVariant ZoomNeuronModel::data(const QModelIndex& index, int role) const {
  if (!stats_ || !index.isValid() || index.row() >= rowCount()) return {};
  const std::int64_t slot = range_.first + index.row();
  const std::int32_t neuron = order_[std::size_t(slot)];
  const std::uint32_t count = stats_->pairCount(neuron, neuron);
  const double p = stats_->tokens > 0 ? double(count) / double(stats_->tokens) : 0.0;
  if (role == Qt::TextAlignmentRole) return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role == Qt::DisplayRole) {
    switch (index.column()) {
      case Slot: return qlonglong(slot);
      case Neuron: return neuron;
      case Frequency: return QString::number(p, 'f', 4);
      case Count: return count;
      default: return {};
    }
  }
  // Sorting by the raw number, not its text.
  if (role == Qt::UserRole) return index.column() == Frequency ? QVariant(p) : data(index, Qt::DisplayRole);
  return {};
}

QVariant ZoomNeuronModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case Slot: return tr("slot");
    case Neuron: return tr("neuron");
    case Frequency: return tr("P(i)");
    case Count: return tr("f(i)");
    default: return {};
  }
}

}  // namespace darkroom::views
