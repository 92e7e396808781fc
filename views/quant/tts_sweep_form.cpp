#include "quant/tts_sweep_form.h"

#include "darkroom/demo_models.h"
#include "quant/number_lists.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QSpinBox>

namespace darkroom::views {

namespace {
constexpr std::int64_t kMaxBudget = 1024;  // as validateTtsOptions accepts
}

TtsSweepForm::TtsSweepForm(QWidget* parent) : QWidget(parent) {
  models_ = new QLineEdit;
  models_->setToolTip(tr("Models separated by commas: built-in names (demo-math-s, demo-math-m) "
                         "or model folders"));
  weights_ = new QComboBox;
  for (const char* w : {"tile-q4_0", "tile-iq4_nl", "rows-q4_0", "rows-iq4_nl", "float32"})
    weights_->addItem(w, w);
  weights_->setToolTip(tr("float32, or the quantization each model gets first (layout-codes, as "
                          "in the Quantization panel)"));
  bon_ = new QCheckBox(tr("Best-of-N"));
  bon_->setToolTip(tr("Decode N candidates at once, keep the one with the best outcome reward"));
  beam_ = new QCheckBox(tr("Beam search"));
  beam_->setToolTip(tr("Step-level beam search over N beams, scored by a process reward"));
  auto* methods = new QHBoxLayout;
  methods->setContentsMargins(0, 0, 0, 0);
  methods->addWidget(bon_);
  methods->addWidget(beam_);
  methods->addStretch();
  budgets_ = new QLineEdit;
  budgets_->setToolTip(tr("Budgets N (candidates decoded at once), separated by commas"));
  problems_ = new QSpinBox;
  problems_->setRange(1, 100000);
  problems_->setToolTip(tr("Held-out word problems per point"));
  reward_ = new QLineEdit;
  reward_->setToolTip(tr("\"verifier\" (the exact checker) or a reward-model folder"));
  auto* form = new QFormLayout(this);
  form->setContentsMargins(0, 0, 0, 0);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form->addRow(tr("Models"), models_);
  form->addRow(tr("Weights"), weights_);
  form->addRow(tr("Methods"), methods);
  form->addRow(tr("Budgets N"), budgets_);
  form->addRow(tr("Problems"), problems_);
  form->addRow(tr("Reward"), reward_);
  TtsOptions quick;
  quick.problems = 32;  // a quick look in the GUI; the CLI's default suits a real sweep
  setOptions(quick);
}

TtsOptions TtsSweepForm::options() const {
  TtsOptions o;
  if (const QStringList models = parseNameList(models_->text()); !models.isEmpty()) {
    o.models.clear();
    for (const QString& m : models) o.models.push_back(m.toStdString());
  }
  o.weights = weights_->currentData().toString().toStdString();
  o.methods.clear();
  if (bon_->isChecked()) o.methods.push_back("bon");
  if (beam_->isChecked()) o.methods.push_back("beam");
  QString error;
  if (auto budgets = parseIntegerList(budgets_->text(), 1, kMaxBudget, {}, &error); !budgets.empty())
    o.budgets.assign(budgets.begin(), budgets.end());
  o.problems = problems_->value();
  const QString reward = reward_->text().trimmed();
  o.reward = reward.isEmpty() ? "verifier" : reward.toStdString();
  return o;
}

void TtsSweepForm::setOptions(const TtsOptions& o) {
  QStringList models;
  for (const auto& m : o.models) models << QString::fromStdString(m);
  models_->setText(models.join(QStringLiteral(", ")));
  const int w = weights_->findData(QString::fromStdString(o.weights));
  if (w >= 0) {
    weights_->setCurrentIndex(w);
  } else {
    weights_->addItem(QString::fromStdString(o.weights), QString::fromStdString(o.weights));
    weights_->setCurrentIndex(weights_->count() - 1);
  }
  bon_->setChecked(std::find(o.methods.begin(), o.methods.end(), "bon") != o.methods.end());
  beam_->setChecked(std::find(o.methods.begin(), o.methods.end(), "beam") != o.methods.end());
  budgets_->setText(joinIntegers({o.budgets.begin(), o.budgets.end()}));
  problems_->setValue(o.problems);
  reward_->setText(QString::fromStdString(o.reward));
}

QString TtsSweepForm::problem() const {
  const QStringList models = parseNameList(models_->text());
  if (models.isEmpty()) return tr("Enter at least one model, e.g. demo-math-s.");
  for (const QString& m : models)
    if (!isDemoModelName(m.toStdString()) && !QFileInfo(m).isDir())
      return tr("\"%1\" is neither a built-in model (%2) nor a model folder.")
          .arg(m, QStringLiteral("demo-math-s, demo-math-m, demo-opt, demo-llama"));
  if (!bon_->isChecked() && !beam_->isChecked())
    return tr("Choose at least one method: Best-of-N or beam search.");
  QString error;
  if (parseIntegerList(budgets_->text(), 1, kMaxBudget, tr("budgets N"), &error).empty()) return error;
  const QString reward = reward_->text().trimmed();
  if (!reward.isEmpty() && reward != QStringLiteral("verifier") && !QFileInfo(reward).isDir())
    return tr("The reward \"%1\" is neither \"verifier\" nor a reward-model folder.").arg(reward);
  // The rest as the engine checks it (the CLI gives the same errors).
  try {
    validateTtsOptions(options());
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

}  // namespace darkroom::views
