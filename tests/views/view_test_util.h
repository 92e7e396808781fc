// Helpers every views test program uses: screenshots into <build>/screenshots and waiting for
// an ImGui widget to draw.
#pragma once

#include <QDir>
#include <QString>
#include <QTest>
#include <QWidget>

#include "imgui/imgui_widget.h"

namespace darkroom::test {

// Saves what `widget` shows as <build>/screenshots/<name>.png (a failed save fails the test).
inline void saveScreenshot(QWidget* widget, const QString& name) {
  QDir().mkpath(DARKROOM_SCREENSHOT_DIR);
  const QString file = QString(DARKROOM_SCREENSHOT_DIR) + "/" + name + ".png";
  QVERIFY2(widget->grab().save(file), qPrintable("cannot save " + file));
  qInfo("screenshot: %s", qPrintable(file));
}

// Lets the widget draw `frames` more frames (it repaints ~30 times a second while shown);
// false when they did not come within 5 s.
inline bool waitFrames(const views::ImGuiWidget& widget, quint64 frames) {
  const quint64 target = widget.frameCount() + frames;
  return QTest::qWaitFor([&] { return widget.frameCount() >= target; }, 5000);
}

}  // namespace darkroom::test
