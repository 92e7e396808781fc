#include <torch/csrc/autograd/custom_function.h>

#include "finetune/sparse_ops.h"

#include <cmath>

#include "darkroom/kernels/block_sparse_attention.h"
#include "darkroom/kernels/block_sparse_mlp.h"

namespace darkroom::training {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor f32(const at::Tensor& t) { return t.to(at::kFloat).contiguous(); }

kernels::BlockLayout kernelLayout(const MlpLayout& l) {
  return {l.blocks.data_ptr<std::int32_t>(), l.blocks.numel(), l.block};
}

// out = x · W[active]ᵀ, and its input gradient dX = dOut · W[active]: the two block kernels
// are each other's backward.
at::Tensor runGather(const at::Tensor& x, const at::Tensor& w, const MlpLayout& l) {
  auto a = f32(x);
  auto out = at::empty({a.size(0), l.columns.numel()}, a.options());
  kernels::gatherNT(backendFor(a.device()), a.data_ptr<float>(), a.size(0), a.size(1),
                    w.data_ptr<float>(), w.size(0), kernelLayout(l), nullptr,
                    out.data_ptr<float>());
  return out;
}

at::Tensor runScatter(const at::Tensor& hc, const at::Tensor& w, const MlpLayout& l) {
  auto a = f32(hc);
  auto out = at::empty({a.size(0), w.size(1)}, a.options());
  kernels::scatterNN(backendFor(a.device()), a.data_ptr<float>(), a.size(0),
                     w.data_ptr<float>(), w.size(0), w.size(1), kernelLayout(l), nullptr,
                     out.data_ptr<float>());
  return out;
}

// Gather (out = x · W[active]ᵀ) when kGather, else scatter (out = Hc · Wt[active]): each is the
// other's input gradient, and the frozen weight gets none.
template <bool kGather>
class BlockProduct : public torch::autograd::Function<BlockProduct<kGather>> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& w,
                            const MlpLayout& layout) {
    ctx->saved_data["w"] = w;
    ctx->saved_data["blocks"] = layout.blocks;
    ctx->saved_data["columns"] = layout.columns;
    ctx->saved_data["block"] = layout.block;
    ctx->saved_data["neurons"] = layout.neurons;
    return kGather ? runGather(input, w, layout) : runScatter(input, w, layout);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    auto w = ctx->saved_data["w"].toTensor();
    MlpLayout l{ctx->saved_data["blocks"].toTensor(), ctx->saved_data["columns"].toTensor(),
                ctx->saved_data["block"].toInt(), ctx->saved_data["neurons"].toInt()};
    return {kGather ? runScatter(grad[0], w, l) : runGather(grad[0], w, l), at::Tensor(),
            at::Tensor()};
  }
};

kernels::AttentionLayout kernelLayout(const AttentionLayout& l) {
  return {l.heads, l.length, l.block, l.row_ptr.data_ptr<std::int32_t>(),
          l.cols.data_ptr<std::int32_t>(), l.nnz};
}

class AttentionFunction : public torch::autograd::Function<AttentionFunction> {
 public:
  // q, k, v: [batch * heads, length, dim] float32 contiguous.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const AttentionLayout& layout,
                            std::int64_t batch) {
    const std::int64_t dim = q.size(2);
    const float scale = 1.0f / std::sqrt(float(dim));
    auto o = at::empty_like(q);
    auto probs = at::empty({batch, layout.nnz, layout.block, layout.block}, q.options());
    kernels::blockSparseAttentionForward(backendFor(q.device()), q.data_ptr<float>(),
                                         k.data_ptr<float>(), v.data_ptr<float>(), batch, dim,
                                         scale, kernelLayout(layout), o.data_ptr<float>(),
                                         probs.data_ptr<float>());
    ctx->save_for_backward({q, k, v, o, probs});
    ctx->saved_data["row_ptr"] = layout.row_ptr;
    ctx->saved_data["cols"] = layout.cols;
    ctx->saved_data["shape"] = std::vector<std::int64_t>{layout.heads, layout.length,
                                                         layout.block, layout.nnz, batch};
    return o;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    auto saved = ctx->get_saved_variables();
    const auto& q = saved[0];
    auto shape = ctx->saved_data["shape"].toIntVector();
    AttentionLayout l{ctx->saved_data["row_ptr"].toTensor(), ctx->saved_data["cols"].toTensor(),
                      shape[0], shape[1], shape[2], shape[3]};
    const std::int64_t dim = q.size(2);
    auto d_o = f32(grad[0]);
    auto dq = at::empty_like(q), dk = at::empty_like(q), dv = at::empty_like(q);
    kernels::blockSparseAttentionBackward(
        backendFor(q.device()), q.data_ptr<float>(), saved[1].data_ptr<float>(),
        saved[2].data_ptr<float>(), saved[3].data_ptr<float>(), saved[4].data_ptr<float>(),
        d_o.data_ptr<float>(), shape[4], dim, 1.0f / std::sqrt(float(dim)), kernelLayout(l),
        dq.data_ptr<float>(), dk.data_ptr<float>(), dv.data_ptr<float>());
    return {dq, dk, dv, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

kernels::Backend backendFor(at::Device device) {
  auto backend = device.is_cuda() ? kernels::Backend::Cuda : kernels::bestHostBackend();
  std::string why;
  if (!kernels::backendAvailable(backend, &why))
    throw kernels::KernelUnavailable(std::string("sparse kernels cannot run on ") +
                                     device.str() + ": " + why);
  return backend;
}

MlpLayout mlpLayoutFromMask(const at::Tensor& active, std::int64_t neurons, std::int64_t block,
                            at::Device device) {
  auto blocks = active.to(at::kCPU).to(at::kBool).nonzero().view(-1);
  std::vector<at::Tensor> ranges;
  for (std::int64_t i = 0; i < blocks.size(0); ++i) {
    const std::int64_t b = blocks[i].item<std::int64_t>();
    ranges.push_back(at::arange(b * block, std::min(neurons, (b + 1) * block), at::kLong));
  }
  auto columns = ranges.empty() ? at::empty({0}, at::kLong) : at::cat(ranges);
  return {blocks.to(at::kInt).to(device), columns.to(device), block, neurons};
}

double AttentionLayout::density() const {
  const std::int64_t nb = (length + block - 1) / block;
  return heads ? double(nnz) / double(heads * nb * (nb + 1) / 2) : 0;
}

AttentionLayout attentionLayoutFromMask(const at::Tensor& keep, std::int64_t length,
                                        std::int64_t block, at::Device device) {
  const std::int64_t heads = keep.size(0), nb = keep.size(1);
  auto causal = at::ones({nb, nb}, at::kBool).tril();
  auto mask = (keep.to(at::kCPU).to(at::kBool) | at::eye(nb, at::kBool)) & causal;
  auto per_row = mask.sum(-1).view(-1).to(at::kInt);  // [heads * nb]
  auto row_ptr = at::zeros({heads * nb + 1}, at::kInt);
  row_ptr.slice(0, 1).copy_(per_row.cumsum(0));
  // nonzero() lists (head, row, col) in row-major order: the CSR's column order.
  auto cols = mask.nonzero().select(1, 2).to(at::kInt).contiguous();
  AttentionLayout l{row_ptr.to(device), cols.to(device), heads, length, block, cols.size(0)};
  return l;
}

at::Tensor gatherColumns(const at::Tensor& x, const at::Tensor& weight, const MlpLayout& layout) {
  return BlockProduct<true>::apply(x, weight, layout);
}

at::Tensor scatterRows(const at::Tensor& hc, const at::Tensor& weight_t, const MlpLayout& layout) {
  return BlockProduct<false>::apply(hc, weight_t, layout);
}

at::Tensor blockSparseAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const AttentionLayout& layout) {
  const std::int64_t batch = q.size(0), heads = q.size(1), length = q.size(2), dim = q.size(3);
  auto flat = [&](const at::Tensor& t) { return f32(t).view({batch * heads, length, dim}); };
  auto o = AttentionFunction::apply(flat(q), flat(k), flat(v), layout, batch);
  return o.view({batch, heads, length, dim});
}

}  // namespace darkroom::training
