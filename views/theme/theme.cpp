#include "theme/theme.h"

#include <QApplication>
#include <QFile>
#include <QPalette>
#include <QStyle>
#include <QStyleFactory>

namespace darkroom::views {

static QPalette darkPalette() {
  QPalette p;
  QColor window(37, 38, 41), base(28, 29, 31), text(222, 224, 228), accent(61, 142, 201);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, window);
  p.setColor(QPalette::ToolTipBase, base);
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, window);
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, Qt::white);
  p.setColor(QPalette::Highlight, accent);
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, accent.lighter(130));
  p.setColor(QPalette::PlaceholderText, QColor(130, 132, 138));
  for (auto role : {QPalette::Text, QPalette::WindowText, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, QColor(110, 112, 118));
  return p;
}

void applyTheme(QApplication& app, Theme theme) {
  app.setStyle(QStyleFactory::create("Fusion"));
  app.setPalette(theme == Theme::Dark ? darkPalette() : app.style()->standardPalette());
  QFile sheet(theme == Theme::Dark ? ":/styles/dark.qss" : ":/styles/light.qss");
  app.setStyleSheet(sheet.open(QIODevice::ReadOnly) ? QString::fromUtf8(sheet.readAll())
                                                    : QString());
}

QString themeName(Theme theme) { return theme == Theme::Dark ? "dark" : "light"; }

Theme themeFromName(const QString& name) { return name == "light" ? Theme::Light : Theme::Dark; }

}  // namespace darkroom::views
