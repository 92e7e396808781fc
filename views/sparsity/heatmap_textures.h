// A colour-mapped matrix on the GPU: one RGBA8 texture per tile, since a matrix can be wider or
// taller than GL_MAX_TEXTURE_SIZE (11008 neurons exceed the 8192 of many GPUs). The caller makes
// the GL context current around every call.
#pragma once

#include <darkroom/sparsity.h>

#include "sparsity/colormap.h"

#include <cstdint>
#include <vector>

class QOpenGLFunctions;

namespace darkroom::views {

// A block of cells: first row and column, and how many of each.
struct TileRect {
  std::int64_t row = 0, col = 0, rows = 0, cols = 0;
};

// Splits rows × cols into tiles of at most maxSide × maxSide, row-major.
std::vector<TileRect> tileLayout(std::int64_t rows, std::int64_t cols, std::int64_t maxSide);

class HeatmapTextures {
 public:
  struct Tile {
    TileRect cells;
    unsigned texture = 0;
  };

  // Colour-maps the matrix with its columns in `order` (display column i shows data column
  // order[i]) and uploads it, reusing the textures when the tiling is unchanged. Returns false
  // when the GL refused (out of memory); no tiles are kept then.
  bool upload(QOpenGLFunctions& gl, const Array2D& matrix, const std::vector<int>& order,
              const ColorScale& scale, std::int64_t maxSide);
  void release(QOpenGLFunctions& gl);

  const std::vector<Tile>& tiles() const { return tiles_; }

 private:
  std::vector<Tile> tiles_;
  std::vector<Rgba8> staging_;  // one tile's pixels on their way to the GPU
};

}  // namespace darkroom::views
