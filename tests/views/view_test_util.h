// Helpers every views test program uses: a seeded random engine, screenshots into
// <build>/screenshots and waiting for an ImGui widget to draw.
#pragma once

#include <QDir>
#include <QString>
#include <QTest>
#include <QWidget>
#include <cstdlib>
#include <random>

#include "imgui/imgui_widget.h"

namespace darkroom::test {

// One random engine per test program, freshly seeded each run; the seed is printed so that
// DARKROOM_TEST_SEED=N replays a failure.
inline std::mt19937_64& rng() {
  static std::mt19937_64 engine = [] {
    unsigned long long seed = std::random_device{}();
    if (const char* env = std::getenv("DARKROOM_TEST_SEED")) seed = std::strtoull(env, nullptr, 10);
    qInfo("random seed %llu (DARKROOM_TEST_SEED to replay)", seed);
    return std::mt19937_64(seed);
  }();
  return engine;
}

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
