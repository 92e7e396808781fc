#include "imgui/imgui_widget.h"

#include "imgui/qt_imgui_keys.h"

#include <backends/imgui_impl_opengl3.h>
#include <imgui.h>

#include <QClipboard>
#include <QGuiApplication>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QOpenGLContext>
#include <QOpenGLFunctions>
#include <QString>
#include <QStyleHints>
#include <QSurfaceFormat>
#include <QWheelEvent>

#include <algorithm>
#include <array>
#include <bitset>
#include <cfloat>

namespace darkroom::views {

namespace {

constexpr int kRepaintIntervalMs = 33;  // ~30 Hz keeps live content moving without a busy loop
constexpr int kMouseButtons = IM_ARRAYSIZE(ImGuiIO::MouseDown);
constexpr int kKeys = IM_ARRAYSIZE(ImGuiIO::KeysDown);

// The back end compiles its shaders with this line on top, so it must name a GLSL dialect the
// context accepts: core profiles (3.2 and up) need not take anything older than 1.50 (macOS
// does not), and ES has dialects of its own.
const char* glslVersion(const QSurfaceFormat& format) {
  const int version = format.majorVersion() * 10 + format.minorVersion();
  if (format.renderableType() == QSurfaceFormat::OpenGLES)
    return version >= 30 ? "#version 300 es" : "#version 100";
  if (format.profile() == QSurfaceFormat::CoreProfile) return "#version 150";
  return version >= 30 ? "#version 130" : "#version 120";
}

int imguiMouseButton(Qt::MouseButton button) {
  switch (button) {
    case Qt::LeftButton: return ImGuiMouseButton_Left;
    case Qt::RightButton: return ImGuiMouseButton_Right;
    case Qt::MiddleButton: return ImGuiMouseButton_Middle;
    case Qt::BackButton: return 3;
    case Qt::ForwardButton: return 4;
    default: return -1;
  }
}

Qt::CursorShape qtCursorShape(ImGuiMouseCursor cursor) {
  switch (cursor) {
    case ImGuiMouseCursor_None: return Qt::BlankCursor;
    case ImGuiMouseCursor_TextInput: return Qt::IBeamCursor;
    case ImGuiMouseCursor_ResizeAll: return Qt::SizeAllCursor;
    case ImGuiMouseCursor_ResizeNS: return Qt::SizeVerCursor;
    case ImGuiMouseCursor_ResizeEW: return Qt::SizeHorCursor;
    case ImGuiMouseCursor_ResizeNESW: return Qt::SizeBDiagCursor;
    case ImGuiMouseCursor_ResizeNWSE: return Qt::SizeFDiagCursor;
    case ImGuiMouseCursor_Hand: return Qt::PointingHandCursor;
    case ImGuiMouseCursor_NotAllowed: return Qt::ForbiddenCursor;
    default: return Qt::ArrowCursor;
  }
}

ImVec2 toImVec2(const QPointF& point) {
  return ImVec2(static_cast<float>(point.x()), static_cast<float>(point.y()));
}

}  // namespace

// Makes a widget's ImGui context current for a scope and then restores whichever was current
// before, so a widget painting in the middle of another's frame cannot leave the wrong one set.
class ImGuiWidget::ContextScope {
 public:
  explicit ContextScope(ImGuiContext* context) : previous_(ImGui::GetCurrentContext()) {
    ImGui::SetCurrentContext(context);
  }
  ~ContextScope() { ImGui::SetCurrentContext(previous_); }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  ImGuiContext* previous_;
};

bool ImGuiWidget::platformSupported() {
  const QString platform = QGuiApplication::platformName();
  return platform != QLatin1String("offscreen") && platform != QLatin1String("minimal") &&
         platform != QLatin1String("linuxfb") && platform != QLatin1String("vnc");
}

ImGuiWidget::ImGuiWidget(QWidget* parent) : QOpenGLWidget(parent) {
  setMouseTracking(true);  // hover highlights need moves without a button held
  setFocusPolicy(Qt::StrongFocus);
  repaintTimer_.setInterval(kRepaintIntervalMs);
  connect(&repaintTimer_, &QTimer::timeout, this, [this] { update(); });

  context_ = ImGui::CreateContext();
  ContextScope scope(context_);
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // window layout belongs to the application, not a file in the cwd
  io.BackendPlatformName = "darkroom_qt";
  io.BackendFlags |= ImGuiBackendFlags_HasMouseCursors;
  io.GetClipboardTextFn = &ImGuiWidget::clipboardText;
  io.SetClipboardTextFn = &ImGuiWidget::setClipboardText;
  io.ClipboardUserData = this;
  const QStyleHints* hints = QGuiApplication::styleHints();
  io.MouseDoubleClickTime = static_cast<float>(hints->mouseDoubleClickInterval()) / 1000.0f;
  io.MouseDoubleClickMaxDist = static_cast<float>(hints->mouseDoubleClickDistance());
  fillImGuiKeyMap(io);
  ImGui::StyleColorsDark();
}

ImGuiWidget::~ImGuiWidget() {
  // QOpenGLWidget's destructor destroys the GL context after this one has run; the
  // aboutToBeDestroyed connection must not call back into a half-destroyed object.
  if (QOpenGLContext* gl = context()) disconnect(gl, nullptr, this, nullptr);
  releaseRenderer();
  ImGui::DestroyContext(context_);
}

void ImGuiWidget::setBackground(const QColor& color) {
  background_ = color;
  update();
}

void ImGuiWidget::setDarkStyle(bool dark) {
  ContextScope scope(context_);
  if (dark)
    ImGui::StyleColorsDark();
  else
    ImGui::StyleColorsLight();
  update();
}

void ImGuiWidget::initializeGL() {
  ContextScope scope(context_);
  QOpenGLContext* gl = context();
  rendererReady_ = ImGui_ImplOpenGL3_Init(glslVersion(gl->format()));
  if (!rendererReady_) {
    qWarning("ImGuiWidget: ImGui's OpenGL 3 renderer could not load the OpenGL functions");
    return;
  }
  // Qt recreates the GL context when the widget moves to another top-level window; the
  // renderer's textures and buffers must go with the old one (initializeGL runs again after).
  connect(gl, &QOpenGLContext::aboutToBeDestroyed, this, &ImGuiWidget::releaseRenderer);
}

void ImGuiWidget::releaseRenderer() {
  if (!rendererReady_) return;
  makeCurrent();
  {
    ContextScope scope(context_);
    ImGui_ImplOpenGL3_Shutdown();
  }
  doneCurrent();
  rendererReady_ = false;
}

void ImGuiWidget::paintGL() {
  QElapsedTimer cost;
  cost.start();
  QOpenGLFunctions* gl = context()->functions();
  gl->glClearColor(background_.redF(), background_.greenF(), background_.blueF(), 1.0f);
  gl->glClear(GL_COLOR_BUFFER_BIT);
  if (!rendererReady_) return;

  ContextScope scope(context_);
  ImGuiIO& io = ImGui::GetIO();
  io.DisplaySize = ImVec2(static_cast<float>(width()), static_cast<float>(height()));
  const auto ratio = static_cast<float>(devicePixelRatioF());
  io.DisplayFramebufferScale = ImVec2(ratio, ratio);
  io.DeltaTime = takeDeltaTime();
  feedQueuedInput(io);

  ImGui_ImplOpenGL3_NewFrame();
  ImGui::NewFrame();
  drawUi();
  ImGui::Render();
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  updateCursor();
  wantsKeyboard_ = io.WantCaptureKeyboard;
  wantsTextInput_ = io.WantTextInput;

  ++frameCount_;
  lastFrameMs_ = static_cast<double>(cost.nsecsElapsed()) / 1e6;
  if (!pendingInput_.empty()) update();  // the rest of an input burst goes to the next frames
}

float ImGuiWidget::takeDeltaTime() {
  if (!frameClock_.isValid()) {
    frameClock_.start();
    return 1.0f / 60.0f;
  }
  const auto seconds = static_cast<float>(frameClock_.nsecsElapsed()) * 1e-9f;
  frameClock_.restart();
  // ImGui rejects a zero step (two paints within one clock tick); and the first frame after the
  // widget sat hidden would count the whole pause and skew ImGui's frame-rate average.
  return std::clamp(seconds, 1e-6f, 0.25f);
}

void ImGuiWidget::feedQueuedInput(ImGuiIO& io) {
  std::array<bool, kMouseButtons> buttonFlipped{};
  std::bitset<kKeys> keyFlipped;
  bool anyButtonFlipped = false;
  bool anyKeyFlipped = false;
  bool anyActionFed = false;  // a button, key, character or wheel step
  // A step waits for the next frame when ImGui could not tell it apart from one already fed.
  auto mustWait = [&](const InputStep& step) {
    // ImGui reads modifiers once per frame: a Ctrl released after Ctrl+A must not turn the A
    // into a typed "a" by arriving in the same frame.
    const bool modifiersChange = step.modifiers.testFlag(Qt::ControlModifier) != io.KeyCtrl ||
                                 step.modifiers.testFlag(Qt::ShiftModifier) != io.KeyShift ||
                                 step.modifiers.testFlag(Qt::AltModifier) != io.KeyAlt ||
                                 step.modifiers.testFlag(Qt::MetaModifier) != io.KeySuper;
    if (anyActionFed && modifiersChange) return true;
    switch (step.kind) {
      case InputStep::Kind::MousePos:  // a click must be seen where it happened
        return anyButtonFlipped;
      case InputStep::Kind::MouseButton: {
        const ImVec2 at = toImVec2(step.pos);
        const bool moved = at.x != io.MousePos.x || at.y != io.MousePos.y;
        return buttonFlipped[step.index] || (anyButtonFlipped && moved);
      }
      case InputStep::Kind::Key:
        return keyFlipped.test(step.index);
      case InputStep::Kind::Character:  // InputText reads characters before keys
        return anyKeyFlipped;
      case InputStep::Kind::Wheel:
        return false;
    }
    return false;
  };

  while (!pendingInput_.empty() && !mustWait(pendingInput_.front())) {
    const InputStep& step = pendingInput_.front();
    io.KeyCtrl = step.modifiers.testFlag(Qt::ControlModifier);
    io.KeyShift = step.modifiers.testFlag(Qt::ShiftModifier);
    io.KeyAlt = step.modifiers.testFlag(Qt::AltModifier);
    io.KeySuper = step.modifiers.testFlag(Qt::MetaModifier);
    switch (step.kind) {
      case InputStep::Kind::MousePos:
        io.MousePos = toImVec2(step.pos);
        break;
      case InputStep::Kind::MouseButton:
        io.MousePos = toImVec2(step.pos);
        io.MouseDown[step.index] = step.down;
        buttonFlipped[step.index] = true;
        anyButtonFlipped = true;
        break;
      case InputStep::Kind::Wheel:
        io.MouseWheelH += static_cast<float>(step.pos.x());
        io.MouseWheel += static_cast<float>(step.pos.y());
        break;
      case InputStep::Kind::Key:
        io.KeysDown[step.index] = step.down;
        keyFlipped.set(step.index);
        anyKeyFlipped = true;
        break;
      case InputStep::Kind::Character:
        io.AddInputCharacterUTF16(static_cast<ImWchar16>(step.index));
        break;
    }
    anyActionFed = anyActionFed || step.kind != InputStep::Kind::MousePos;
    pendingInput_.pop_front();
  }
}

void ImGuiWidget::updateCursor() {
  const ImGuiMouseCursor cursor = ImGui::GetMouseCursor();
  if (cursor == shownCursor_) return;
  shownCursor_ = cursor;
  setCursor(qtCursorShape(cursor));
}

void ImGuiWidget::enqueue(const InputStep& step) {
  pendingInput_.push_back(step);
  update();
}

void ImGuiWidget::enqueueMouseButton(QMouseEvent* event, bool down) {
  const int button = imguiMouseButton(event->button());
  if (button < 0) return;
  enqueue({InputStep::Kind::MouseButton, event->position(), button, down, event->modifiers()});
}

void ImGuiWidget::mousePressEvent(QMouseEvent* event) { enqueueMouseButton(event, true); }

void ImGuiWidget::mouseReleaseEvent(QMouseEvent* event) { enqueueMouseButton(event, false); }

// Qt sends this in place of the second press; ImGui times double clicks on its own.
void ImGuiWidget::mouseDoubleClickEvent(QMouseEvent* event) { enqueueMouseButton(event, true); }

void ImGuiWidget::mouseMoveEvent(QMouseEvent* event) {
  enqueue({InputStep::Kind::MousePos, event->position(), 0, false, event->modifiers()});
}

void ImGuiWidget::wheelEvent(QWheelEvent* event) {
  // ImGui scrolls whatever is under the pointer, and no move may have told it where that is.
  enqueue({InputStep::Kind::MousePos, event->position(), 0, false, event->modifiers()});
  // Qt counts eighths of a degree, 120 to a notch; ImGui counts notches.
  const QPointF notches = QPointF(event->angleDelta()) / 120.0;
  enqueue({InputStep::Kind::Wheel, notches, 0, false, event->modifiers()});
}

void ImGuiWidget::leaveEvent(QEvent* event) {
  // ImGui's "no mouse" position, so nothing stays hovered once the pointer is gone.
  enqueue({InputStep::Kind::MousePos, QPointF(-FLT_MAX, -FLT_MAX), 0, false,
           QGuiApplication::keyboardModifiers()});
  QOpenGLWidget::leaveEvent(event);
}

bool ImGuiWidget::event(QEvent* event) {
  // While an ImGui text field is being edited, plain keys and the editing shortcuts (select
  // all, copy, paste, cut, undo, redo) are its, not the window's actions — as in QLineEdit.
  if (event->type() == QEvent::ShortcutOverride && wantsTextInput_) {
    const auto* key = static_cast<QKeyEvent*>(event);
    const Qt::KeyboardModifiers chord =
        key->modifiers() & (Qt::ControlModifier | Qt::AltModifier | Qt::MetaModifier);
    const bool plain = chord == Qt::NoModifier;
    const bool editing = chord == Qt::ControlModifier &&
                         (key->key() == Qt::Key_A || key->key() == Qt::Key_C ||
                          key->key() == Qt::Key_V || key->key() == Qt::Key_X ||
                          key->key() == Qt::Key_Y || key->key() == Qt::Key_Z);
    if (plain || editing) {
      event->accept();
      return true;
    }
  }
  return QOpenGLWidget::event(event);
}

void ImGuiWidget::keyPressEvent(QKeyEvent* event) {
  const int key = imguiKeyIndex(event->key());
  // Held keys are repeated by ImGui itself; the platform's repeats only add their text.
  if (key >= 0 && !event->isAutoRepeat())
    enqueue({InputStep::Kind::Key, {}, key, true, event->modifiers()});
  for (const QChar ch : event->text()) {
    // Backspace, Return, Ctrl+letter... arrive as control characters; they are keys to ImGui.
    if (ch.category() == QChar::Other_Control) continue;
    enqueue({InputStep::Kind::Character, {}, ch.unicode(), false, event->modifiers()});
  }
  // Keys ImGui has no use for go on to the parent (window shortcuts, dialogs' Escape).
  event->setAccepted(wantsKeyboard_);
}

void ImGuiWidget::keyReleaseEvent(QKeyEvent* event) {
  const int key = imguiKeyIndex(event->key());
  if (key >= 0 && !event->isAutoRepeat())
    enqueue({InputStep::Kind::Key, {}, key, false, event->modifiers()});
  event->setAccepted(wantsKeyboard_);
}

void ImGuiWidget::focusInEvent(QFocusEvent* event) {
  {
    ContextScope scope(context_);
    ImGui::GetIO().AddFocusEvent(true);
  }
  update();
  QOpenGLWidget::focusInEvent(event);
}

void ImGuiWidget::focusOutEvent(QFocusEvent* event) {
  {
    ContextScope scope(context_);
    ImGui::GetIO().AddFocusEvent(false);  // ImGui releases the keys it thinks are held
  }
  // Their releases will go to whichever widget has focus now, so queued presses must not put
  // keys back down either.
  pendingInput_.erase(std::remove_if(pendingInput_.begin(), pendingInput_.end(),
                                     [](const InputStep& step) {
                                       return step.kind == InputStep::Kind::Key;
                                     }),
                      pendingInput_.end());
  update();
  QOpenGLWidget::focusOutEvent(event);
}

// While an ImGui text field is being edited, Tab belongs to it (ImGui moves between fields with
// it); otherwise Tab moves focus out of the widget as anywhere else.
bool ImGuiWidget::focusNextPrevChild(bool next) {
  if (wantsTextInput_) return false;
  return QOpenGLWidget::focusNextPrevChild(next);
}

void ImGuiWidget::showEvent(QShowEvent* event) {
  repaintTimer_.start();
  QOpenGLWidget::showEvent(event);
}

void ImGuiWidget::hideEvent(QHideEvent* event) {
  repaintTimer_.stop();
  QOpenGLWidget::hideEvent(event);
}

const char* ImGuiWidget::clipboardText(void* widget) {
  auto* self = static_cast<ImGuiWidget*>(widget);
  self->clipboardUtf8_ = QGuiApplication::clipboard()->text().toUtf8();
  return self->clipboardUtf8_.constData();
}

void ImGuiWidget::setClipboardText(void*, const char* text) {
  QGuiApplication::clipboard()->setText(QString::fromUtf8(text));
}

}  // namespace darkroom::views
