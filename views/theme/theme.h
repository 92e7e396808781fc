// Dark and light themes: a Fusion palette plus a small style sheet from the resources.
#pragma once

#include <QString>

class QApplication;

namespace darkroom::views {

enum class Theme { Dark, Light };

void applyTheme(QApplication& app, Theme theme);
QString themeName(Theme theme);
Theme themeFromName(const QString& name);  // unknown names give Dark

}  // namespace darkroom::views
