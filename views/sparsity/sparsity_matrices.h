// The matrices the sparsity heatmap shows, cut out of a SparsityAnalysis.
#pragma once

#include <darkroom/sparsity.h>

#include <cstdint>
#include <vector>

namespace darkroom::views {

// Layers and neurons per layer of the MLP data (from neuron_frequency).
std::int64_t analysisLayers(const SparsityAnalysis& analysis);
std::int64_t analysisNeurons(const SparsityAnalysis& analysis);

// Whether sample_magnitude holds layers × neurons values for each of its tokens.
bool hasTokenMagnitudes(const SparsityAnalysis& analysis);
// layers × neurons of |activation| for one token of the sample sequence; empty when the
// analysis has no such token.
Array2D tokenMagnitude(const SparsityAnalysis& analysis, std::int64_t token);
// The largest |activation| over all sample tokens: one colour scale for stepping through them.
float largestTokenMagnitude(const SparsityAnalysis& analysis);

// Neurons by mean activation frequency over the layers, most active first (ties by index). A
// neuron index means a different neuron in every layer, so no single order sorts each layer.
std::vector<int> neuronsByMeanFrequency(const SparsityAnalysis& analysis);

// The attention map of one layer and head, or nullptr when the analysis has none.
const Array2D* attentionMass(const SparsityAnalysis& analysis, std::int64_t layer,
                             std::int64_t head);

}  // namespace darkroom::views
