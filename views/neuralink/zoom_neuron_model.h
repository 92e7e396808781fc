// The neurons of the zoomed slot range as a table: slot, neuron, P(i), f(i). A model rather than
// a filled table widget, so a range of 11008 neurons costs nothing until rows are shown.
#pragma once

#include "neuralink/coact_matrix.h"

#include <QAbstractTableModel>

#include <memory>

namespace darkroom::views {

class ZoomNeuronModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { Slot, Neuron, Frequency, Count, Columns };

  using QAbstractTableModel::QAbstractTableModel;

  // Lists slots `range` of `order`; stats must outlive the next set() or clear().
  void set(std::shared_ptr<const neuralink::LayerCoact> stats, std::vector<std::int32_t> order,
           SlotRange range);
  void clear();
  SlotRange range() const { return range_; }
  // The neuron at row `row` (slot range.first + row).
  std::int32_t neuronAt(int row) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  std::shared_ptr<const neuralink::LayerCoact> stats_;
  std::vector<std::int32_t> order_;
  SlotRange range_;
};

}  // namespace darkroom::views
