// A QOpenGLWidget that hosts Dear ImGui (1.86): it owns one ImGui context, turns Qt input into
// ImGui input, and draws with ImGui's OpenGL 3 back end. Subclasses implement drawUi().
#pragma once

#include <QByteArray>
#include <QColor>
#include <QElapsedTimer>
#include <QOpenGLWidget>
#include <QPointF>
#include <QTimer>

#include <deque>

struct ImGuiContext;
struct ImGuiIO;

namespace darkroom::views {

class ImGuiWidget : public QOpenGLWidget {
  Q_OBJECT

 public:
  explicit ImGuiWidget(QWidget* parent = nullptr);
  ~ImGuiWidget() override;

  // False on Qt's raster-only platform plugins (offscreen, minimal, linuxfb, vnc): Qt 6.4 cannot
  // composite any QOpenGLWidget there and crashes once one is shown, so put a placeholder in
  // the window instead. Needs the QGuiApplication to exist.
  static bool platformSupported();

  // Colour behind the ImGui windows (shows where no window covers the widget).
  void setBackground(const QColor& color);
  QColor background() const { return background_; }
  // ImGui's built-in dark (default) or light colour scheme.
  void setDarkStyle(bool dark);

  // Frames drawn so far, and the CPU time the last one took (ImGui frame build + GL submission).
  quint64 frameCount() const { return frameCount_; }
  double lastFrameMs() const { return lastFrameMs_; }

 protected:
  // Called once per frame between ImGui::NewFrame() and ImGui::Render(), with this widget's
  // ImGui context current: submit the windows and widgets here.
  virtual void drawUi() = 0;

  bool event(QEvent* event) override;
  void initializeGL() override;
  void paintGL() override;

  void mousePressEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void leaveEvent(QEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  void keyReleaseEvent(QKeyEvent* event) override;
  void focusInEvent(QFocusEvent* event) override;
  void focusOutEvent(QFocusEvent* event) override;
  bool focusNextPrevChild(bool next) override;
  void showEvent(QShowEvent* event) override;
  void hideEvent(QHideEvent* event) override;

 private:
  // ImGui 1.86 samples button and key state once per frame, so a press and release that both
  // arrive between two frames would never be seen. Input is therefore queued in arrival order
  // and fed to ImGui a frame at a time: a frame takes steps until one would flip a button or
  // key that already flipped in that frame, or change the modifiers under earlier keys.
  struct InputStep {
    enum class Kind { MousePos, MouseButton, Wheel, Key, Character };
    Kind kind;
    QPointF pos;          // MousePos, MouseButton; wheel delta for Wheel
    int index = 0;        // mouse button, key index or UTF-16 unit
    bool down = false;    // MouseButton, Key
    Qt::KeyboardModifiers modifiers;
  };
  class ContextScope;

  void enqueue(const InputStep& step);
  void enqueueMouseButton(QMouseEvent* event, bool down);
  void feedQueuedInput(ImGuiIO& io);
  float takeDeltaTime();
  void updateCursor();
  void releaseRenderer();
  static const char* clipboardText(void* widget);
  static void setClipboardText(void* widget, const char* text);

  ImGuiContext* context_ = nullptr;
  bool rendererReady_ = false;
  std::deque<InputStep> pendingInput_;
  QColor background_{30, 30, 30};
  QTimer repaintTimer_;
  QElapsedTimer frameClock_;
  quint64 frameCount_ = 0;
  double lastFrameMs_ = 0;
  // ImGui's wishes as of the last frame: whether key events are its, and whether a text field
  // is being edited (then Tab stays in the widget).
  bool wantsKeyboard_ = false;
  bool wantsTextInput_ = false;
  int shownCursor_ = 0;  // an ImGuiMouseCursor; 0 is Arrow, Qt's default too
  QByteArray clipboardUtf8_;  // keeps the text handed to ImGui alive until the next request
};

}  // namespace darkroom::views
