#include "reference_transformer.h"

#include <cmath>
#include <stdexcept>

namespace darkroom::test {
namespace {

struct Ref {
  const ModelConfig& c;
  const RefWeights& w;

  const RefTensor& t(const std::string& name) const {
    auto it = w.find(name);
    if (it == w.end()) throw std::runtime_error("reference: missing " + name);
    return it->second;
  }
  bool has(const std::string& name) const { return w.count(name) > 0; }

  // y = W x + b, W is [out, in].
  Vec linear(const Vec& x, const std::string& weight, const std::string& bias = "") const {
    const auto& W = t(weight);
    std::int64_t out = W.shape[0], in = W.shape[1];
    Vec y(static_cast<std::size_t>(out), 0.0);
    for (std::int64_t o = 0; o < out; ++o) {
      double s = bias.empty() ? 0.0 : t(bias).data[static_cast<std::size_t>(o)];
      for (std::int64_t i = 0; i < in; ++i)
        s += W.data[static_cast<std::size_t>(o * in + i)] * x[static_cast<std::size_t>(i)];
      y[static_cast<std::size_t>(o)] = s;
    }
    return y;
  }
  Vec layerNorm(const Vec& x, const std::string& name) const {
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= double(x.size());
    for (double v : x) var += (v - mean) * (v - mean);
    var /= double(x.size());
    Vec y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i)
      y[i] = (x[i] - mean) / std::sqrt(var + c.norm_eps) * t(name + ".weight").data[i] +
             t(name + ".bias").data[i];
    return y;
  }
  Vec rmsNorm(const Vec& x, const std::string& name) const {
    double ms = 0;
    for (double v : x) ms += v * v;
    ms /= double(x.size());
    Vec y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i)
      y[i] = x[i] / std::sqrt(ms + c.norm_eps) * t(name).data[i];
    return y;
  }
  double act(double v) const {
    if (c.activation == "relu") return v > 0 ? v : 0;
    if (c.activation == "silu") return v / (1 + std::exp(-v));
    return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
  }
  // Rotates one head vector at position pos: pairs (i, i + d/2).
  void rope(Vec& v, std::size_t offset, std::int64_t d, std::int64_t pos) const {
    for (std::int64_t i = 0; i < d / 2; ++i) {
      double freq = 1.0 / std::pow(c.rope_theta, double(2 * i) / double(d));
      double angle = double(pos) * freq;
      double a = v[offset + std::size_t(i)], b = v[offset + std::size_t(i + d / 2)];
      v[offset + std::size_t(i)] = a * std::cos(angle) - b * std::sin(angle);
      v[offset + std::size_t(i + d / 2)] = b * std::cos(angle) + a * std::sin(angle);
    }
  }
};

void addInto(Vec& x, const Vec& y) {
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += y[i];
}

}  // namespace

std::vector<Vec> referenceForward(const ModelConfig& c, const RefWeights& w,
                                  const std::vector<std::int64_t>& tokens) {
  Ref r{c, w};
  const bool opt = c.family == ModelFamily::Opt;
  const std::int64_t h = c.hidden_size, d = c.headDim(), nh = c.num_heads, nkv = c.num_kv_heads;
  const std::size_t L = tokens.size();
  const std::string embed = opt ? "model.decoder.embed_tokens.weight" : "model.embed_tokens.weight";
  const auto& E = r.t(embed);
  const std::int64_t e = E.shape[1];

  std::vector<Vec> x(L);
  for (std::size_t p = 0; p < L; ++p) {
    Vec row(E.data.begin() + tokens[p] * e, E.data.begin() + (tokens[p] + 1) * e);
    if (opt) {
      if (r.has("model.decoder.project_in.weight")) row = r.linear(row, "model.decoder.project_in.weight");
      const auto& P = r.t("model.decoder.embed_positions.weight");
      for (std::int64_t i = 0; i < h; ++i) row[std::size_t(i)] += P.data[std::size_t((std::int64_t(p) + 2) * h + i)];
    }
    x[p] = row;
  }
  for (int layer = 0; layer < c.num_layers; ++layer) {
    std::string pre = (opt ? "model.decoder.layers." : "model.layers.") + std::to_string(layer) + ".";
    auto attend = [&](const std::vector<Vec>& in) {
      std::string a = pre + "self_attn.";
      auto bias = [&](const char* proj) {
        std::string b = a + proj + ".bias";
        return r.has(b) ? b : std::string();
      };
      std::vector<Vec> q(L), k(L), v(L), out(L);
      for (std::size_t p = 0; p < L; ++p) {
        q[p] = r.linear(in[p], a + "q_proj.weight", bias("q_proj"));
        k[p] = r.linear(in[p], a + "k_proj.weight", bias("k_proj"));
        v[p] = r.linear(in[p], a + "v_proj.weight", bias("v_proj"));
        if (!opt) {
          for (std::int64_t hd = 0; hd < nh; ++hd) r.rope(q[p], std::size_t(hd * d), d, std::int64_t(p));
          for (std::int64_t hd = 0; hd < nkv; ++hd) r.rope(k[p], std::size_t(hd * d), d, std::int64_t(p));
        }
      }
      for (std::size_t p = 0; p < L; ++p) {
        Vec o(std::size_t(h), 0.0);
        for (std::int64_t hd = 0; hd < nh; ++hd) {
          std::int64_t kvh = hd / (nh / nkv);
          std::vector<double> score(p + 1);
          double mx = -1e300;
          for (std::size_t s = 0; s <= p; ++s) {
            double dot = 0;
            for (std::int64_t i = 0; i < d; ++i)
              dot += q[p][std::size_t(hd * d + i)] * k[s][std::size_t(kvh * d + i)];
            score[s] = dot / std::sqrt(double(d));
            mx = std::max(mx, score[s]);
          }
          double sum = 0;
          for (auto& sc : score) sum += (sc = std::exp(sc - mx));
          for (std::size_t s = 0; s <= p; ++s)
            for (std::int64_t i = 0; i < d; ++i)
              o[std::size_t(hd * d + i)] += score[s] / sum * v[s][std::size_t(kvh * d + i)];
        }
        out[p] = opt ? r.linear(o, a + "out_proj.weight", a + "out_proj.bias")
                     : r.linear(o, a + "o_proj.weight");
      }
      return out;
    };
    auto feed = [&](const Vec& in) {
      if (opt) {
        Vec f = r.linear(in, pre + "fc1.weight", pre + "fc1.bias");
        for (auto& val : f) val = r.act(val);
        return r.linear(f, pre + "fc2.weight", pre + "fc2.bias");
      }
      Vec g = r.linear(in, pre + "mlp.gate_proj.weight"), u = r.linear(in, pre + "mlp.up_proj.weight");
      for (std::size_t i = 0; i < g.size(); ++i) g[i] = r.act(g[i]) * u[i];
      return r.linear(g, pre + "mlp.down_proj.weight");
    };
    std::vector<Vec> normed(L);
    if (opt && !c.layer_norm_before) {
      auto att = attend(x);
      for (std::size_t p = 0; p < L; ++p) {
        addInto(x[p], att[p]);
        x[p] = r.layerNorm(x[p], pre + "self_attn_layer_norm");
        addInto(x[p], feed(x[p]));
        x[p] = r.layerNorm(x[p], pre + "final_layer_norm");
      }
      continue;
    }
    for (std::size_t p = 0; p < L; ++p)
      normed[p] = opt ? r.layerNorm(x[p], pre + "self_attn_layer_norm")
                      : r.rmsNorm(x[p], pre + "input_layernorm.weight");
    auto att = attend(normed);
    for (std::size_t p = 0; p < L; ++p) {
      addInto(x[p], att[p]);
      Vec n = opt ? r.layerNorm(x[p], pre + "final_layer_norm")
                  : r.rmsNorm(x[p], pre + "post_attention_layernorm.weight");
      addInto(x[p], feed(n));
    }
  }
  std::vector<Vec> logits(L);
  for (std::size_t p = 0; p < L; ++p) {
    Vec y = x[p];
    if (opt) {
      if (c.layer_norm_before) y = r.layerNorm(y, "model.decoder.final_layer_norm");
      if (r.has("model.decoder.project_out.weight")) y = r.linear(y, "model.decoder.project_out.weight");
    } else {
      y = r.rmsNorm(y, "model.norm.weight");
    }
    logits[p] = r.linear(y, c.tie_embeddings ? embed : "lm_head.weight");
  }
  return logits;
}

}  // namespace darkroom::test
