// Qt key codes → Dear ImGui 1.86 key indices. ImGui of that version reads the keyboard as a
// 512-entry array (ImGuiIO::KeysDown) in the host's own numbering plus a table (ImGuiIO::KeyMap)
// that says where its named keys (Tab, arrows, Enter, A for select-all, ...) sit in that array.
#pragma once

struct ImGuiIO;

namespace darkroom::views {

// Index into ImGuiIO::KeysDown for a Qt::Key value, or -1 for keys that do not fit the array.
// Latin-1 keys keep their character code; Qt's special keys (Escape, arrows, F-keys, modifiers,
// ...) land in 256..511. Backtab (what Shift+Tab arrives as) counts as Tab.
int imguiKeyIndex(int qtKey);

// Points io.KeyMap's named keys at the indices imguiKeyIndex() gives their Qt counterparts.
void fillImGuiKeyMap(ImGuiIO& io);

}  // namespace darkroom::views
