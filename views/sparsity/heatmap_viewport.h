// Pan and zoom of a heatmap: which cells the canvas shows, at how many pixels per cell on each
// axis. Cell coordinates run from 0 to cols (x) and 0 to rows (y); canvas coordinates are pixels
// from the canvas's top-left corner. Plain maths, so tests can check it without OpenGL.
#pragma once

namespace darkroom::views {

struct Point2 {
  double x = 0, y = 0;
};

class HeatmapViewport {
 public:
  // The matrix's size in cells; a new extent fits the view.
  void setExtent(double cols, double rows);
  // The canvas's size in pixels; a fitted view stays fitted, a zoomed one keeps its top-left.
  void setCanvasSize(double width, double height);

  // Stretches the whole matrix over the canvas (cells need not be square).
  void fit();
  bool fitted() const { return fitted_; }
  // Multiplies the pixels per cell by factorX and factorY, keeping the cell under `anchor` (in
  // canvas pixels) where it is.
  void zoom(double factorX, double factorY, Point2 anchor);
  // Moves the content by `delta` canvas pixels (a drag).
  void pan(Point2 delta);

  Point2 toCanvas(Point2 cell) const;
  Point2 toCell(Point2 canvas) const;
  Point2 pixelsPerCell() const { return scale_; }
  // The cell-space rectangle the canvas shows: top-left and bottom-right corners.
  Point2 visibleMin() const { return origin_; }
  Point2 visibleMax() const;

 private:
  Point2 fitScale() const;
  void clampView();

  Point2 extent_{1, 1};
  Point2 canvas_{1, 1};
  Point2 origin_;  // the cell at the canvas's top-left corner
  Point2 scale_{1, 1};
  bool fitted_ = true;
};

}  // namespace darkroom::views
