// darkroom: the GUI. Usage: darkroom [--workspace DIR] [--screenshot FILE.png]
// --screenshot renders the window once its first frames are drawn, saves it and exits (for docs
// and for checking a build on a machine without a person at the screen).
#include <QApplication>
#include <QCommandLineParser>
#include <QMessageBox>
#include <QSurfaceFormat>
#include <QTimer>

#include "darkroom/workspace.h"
#include "main_window.h"

int main(int argc, char** argv) {
  QApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
  QApplication app(argc, argv);
  QApplication::setOrganizationName("Darkroom");
  QApplication::setApplicationName("Darkroom");
  QApplication::setApplicationVersion("0.1.0");

  QCommandLineParser parser;
  parser.setApplicationDescription("Darkroom research workbench");
  parser.addHelpOption();
  parser.addVersionOption();
  QCommandLineOption workspace_opt("workspace", "Workspace folder to open.", "DIR");
  QCommandLineOption screenshot_opt("screenshot", "Save a screenshot of the window and exit.",
                                    "FILE");
  parser.addOptions({workspace_opt, screenshot_opt});
  parser.process(app);

  darkroom::views::MainWindow window;
  QString path = parser.isSet(workspace_opt)
                     ? parser.value(workspace_opt)
                     : QString::fromStdString(darkroom::Workspace::defaultPath().string());
  QString error;
  // The default workspace is created on first launch; one named on the command line must exist.
  if (!window.openWorkspace(path, !parser.isSet(workspace_opt), &error) &&
      !parser.isSet(screenshot_opt))
    QMessageBox::warning(&window, "Darkroom", error + "\n\nUse File ▸ Open Workspace to pick one.");
  window.show();

  if (parser.isSet(screenshot_opt)) {
    QString file = parser.value(screenshot_opt);
    QTimer::singleShot(1500, &window, [&window, file] {
      bool ok = window.grab().save(file);
      std::fprintf(ok ? stdout : stderr, ok ? "screenshot: %s\n" : "cannot write %s\n",
                   file.toLocal8Bit().constData());
      QApplication::exit(ok ? 0 : 1);
    });
  }
  return app.exec();
}
