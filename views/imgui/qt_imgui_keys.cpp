#include "imgui/qt_imgui_keys.h"

#include <imgui.h>

#include <Qt>

namespace darkroom::views {

namespace {
// Qt numbers its non-character keys from 0x01000000 up; the first 256 of them (everything a
// keyboard has, multimedia keys aside) go above the Latin-1 block.
constexpr int kSpecialKeysBase = 256;
constexpr int kSpecialKeysCount = 256;
}  // namespace

int imguiKeyIndex(int qtKey) {
  if (qtKey == Qt::Key_Backtab) qtKey = Qt::Key_Tab;  // ImGui wants Tab with KeyShift set
  if (qtKey >= Qt::Key_Space && qtKey <= Qt::Key_ydiaeresis) return qtKey;
  const int special = qtKey - Qt::Key_Escape;
  if (special >= 0 && special < kSpecialKeysCount) return kSpecialKeysBase + special;
  return -1;
}

void fillImGuiKeyMap(ImGuiIO& io) {
  io.KeyMap[ImGuiKey_Tab] = imguiKeyIndex(Qt::Key_Tab);
  io.KeyMap[ImGuiKey_LeftArrow] = imguiKeyIndex(Qt::Key_Left);
  io.KeyMap[ImGuiKey_RightArrow] = imguiKeyIndex(Qt::Key_Right);
  io.KeyMap[ImGuiKey_UpArrow] = imguiKeyIndex(Qt::Key_Up);
  io.KeyMap[ImGuiKey_DownArrow] = imguiKeyIndex(Qt::Key_Down);
  io.KeyMap[ImGuiKey_PageUp] = imguiKeyIndex(Qt::Key_PageUp);
  io.KeyMap[ImGuiKey_PageDown] = imguiKeyIndex(Qt::Key_PageDown);
  io.KeyMap[ImGuiKey_Home] = imguiKeyIndex(Qt::Key_Home);
  io.KeyMap[ImGuiKey_End] = imguiKeyIndex(Qt::Key_End);
  io.KeyMap[ImGuiKey_Insert] = imguiKeyIndex(Qt::Key_Insert);
  io.KeyMap[ImGuiKey_Delete] = imguiKeyIndex(Qt::Key_Delete);
  io.KeyMap[ImGuiKey_Backspace] = imguiKeyIndex(Qt::Key_Backspace);
  io.KeyMap[ImGuiKey_Space] = imguiKeyIndex(Qt::Key_Space);
  // Qt calls the main Enter key Return and the keypad one Enter.
  io.KeyMap[ImGuiKey_Enter] = imguiKeyIndex(Qt::Key_Return);
  io.KeyMap[ImGuiKey_KeyPadEnter] = imguiKeyIndex(Qt::Key_Enter);
  io.KeyMap[ImGuiKey_Escape] = imguiKeyIndex(Qt::Key_Escape);
  io.KeyMap[ImGuiKey_A] = imguiKeyIndex(Qt::Key_A);
  io.KeyMap[ImGuiKey_C] = imguiKeyIndex(Qt::Key_C);
  io.KeyMap[ImGuiKey_V] = imguiKeyIndex(Qt::Key_V);
  io.KeyMap[ImGuiKey_X] = imguiKeyIndex(Qt::Key_X);
  io.KeyMap[ImGuiKey_Y] = imguiKeyIndex(Qt::Key_Y);
  io.KeyMap[ImGuiKey_Z] = imguiKeyIndex(Qt::Key_Z);
}

}  // namespace darkroom::views
