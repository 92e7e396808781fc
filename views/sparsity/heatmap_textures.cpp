#include "sparsity/heatmap_textures.h"

#include <QOpenGLFunctions>

#include <algorithm>
#include <cmath>
#include <functional>
#include <thread>

namespace darkroom::views {

std::vector<TileRect> tileLayout(std::int64_t rows, std::int64_t cols, std::int64_t maxSide) {
  std::vector<TileRect> tiles;
  if (rows <= 0 || cols <= 0 || maxSide <= 0) return tiles;
  for (std::int64_t r = 0; r < rows; r += maxSide)
    for (std::int64_t c = 0; c < cols; c += maxSide)
      tiles.push_back({r, c, std::min(maxSide, rows - r), std::min(maxSide, cols - c)});
  return tiles;
}

namespace {

bool sameCells(const TileRect& a, const TileRect& b) {
  return a.row == b.row && a.col == b.col && a.rows == b.rows && a.cols == b.cols;
}

void fillRows(Rgba8* out, const Array2D& matrix, const std::vector<int>& order,
              const ColorScale& scale, const TileRect& cells, std::int64_t firstRow,
              std::int64_t endRow) {
  const auto& table = colormapTable();
  for (std::int64_t r = firstRow; r < endRow; ++r) {
    const float* row = matrix.values.data() + r * matrix.cols;
    for (std::int64_t c = cells.col; c < cells.col + cells.cols; ++c) {
      const float t = scale.position(row[order[std::size_t(c)]]);
      *out++ = std::isnan(t) ? kNanColor : table[std::size_t(t * 255.0f + 0.5f)];
    }
  }
}

// A 4096 × 4096 matrix takes ~100 ms to colour-map on one core; rows are independent, so large
// tiles are split over the cores.
void fillTile(std::vector<Rgba8>& pixels, const Array2D& matrix, const std::vector<int>& order,
              const ColorScale& scale, const TileRect& cells) {
  constexpr std::int64_t kCellsPerThread = 1 << 18;
  pixels.resize(std::size_t(cells.rows * cells.cols));
  const auto cores = std::int64_t(std::max(1u, std::thread::hardware_concurrency()));
  const std::int64_t threads = std::clamp(cells.rows * cells.cols / kCellsPerThread,
                                          std::int64_t(1), std::min(cores, cells.rows));
  std::vector<std::thread> workers;
  for (std::int64_t t = 1; t < threads; ++t) {
    const std::int64_t first = cells.row + cells.rows * t / threads;
    const std::int64_t end = cells.row + cells.rows * (t + 1) / threads;
    Rgba8* out = pixels.data() + (first - cells.row) * cells.cols;
    workers.emplace_back(fillRows, out, std::cref(matrix), std::cref(order), std::cref(scale),
                         std::cref(cells), first, end);
  }
  fillRows(pixels.data(), matrix, order, scale, cells, cells.row, cells.row + cells.rows / threads);
  for (std::thread& worker : workers) worker.join();
}

}  // namespace

bool HeatmapTextures::upload(QOpenGLFunctions& gl, const Array2D& matrix,
                             const std::vector<int>& order, const ColorScale& scale,
                             std::int64_t maxSide) {
  const std::vector<TileRect> layout = tileLayout(matrix.rows, matrix.cols, maxSide);
  const bool reuse =
      layout.size() == tiles_.size() &&
      std::equal(layout.begin(), layout.end(), tiles_.begin(),
                 [](const TileRect& r, const Tile& t) { return sameCells(r, t.cells); });
  if (!reuse) {
    release(gl);
    for (const TileRect& cells : layout) {
      Tile tile{cells, 0};
      gl.glGenTextures(1, &tile.texture);
      tiles_.push_back(tile);
    }
  }
  // Errors left by earlier calls would be taken for ours (bounded: a lost context repeats one).
  for (int i = 0; i < 16 && gl.glGetError() != GL_NO_ERROR; ++i) {
  }
  for (const Tile& tile : tiles_) {
    fillTile(staging_, matrix, order, scale, tile.cells);
    const auto width = static_cast<GLsizei>(tile.cells.cols);
    const auto height = static_cast<GLsizei>(tile.cells.rows);
    gl.glBindTexture(GL_TEXTURE_2D, tile.texture);
    if (reuse) {
      gl.glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE,
                         staging_.data());
    } else {
      // Nearest: a cell is one neuron, and blending neighbours would invent values.
      gl.glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
      gl.glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
      gl.glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
      gl.glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
      gl.glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, width, height, 0, GL_RGBA, GL_UNSIGNED_BYTE,
                      staging_.data());
    }
  }
  gl.glBindTexture(GL_TEXTURE_2D, 0);
  // The staging buffer can be a whole 4096 × 4096 tile (64 MiB): not worth keeping between uploads.
  std::vector<Rgba8>().swap(staging_);
  if (gl.glGetError() == GL_NO_ERROR) return true;
  release(gl);
  return false;
}

void HeatmapTextures::release(QOpenGLFunctions& gl) {
  for (const Tile& tile : tiles_) gl.glDeleteTextures(1, &tile.texture);
  tiles_.clear();
}

}  // namespace darkroom::views
