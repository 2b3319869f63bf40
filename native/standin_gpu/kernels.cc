// The stand-in GPU's kernels: float32 only (like Metal, no float64), for the ops the scratch step's graphs use.
//
// A kernel's compute function runs on a TensorFlow executor thread: it checks shapes, allocates outputs (device
// memory, so an allocation over the limit fails here as ResourceExhausted) and enqueues the arithmetic on the
// device's queue. It never reads device memory itself; only the queued task does, on the worker thread.
// Arguments TensorFlow keeps in host memory (shapes, axes, multiples) are read at once, as a GPU kernel would.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "standin.h"
#include "tensorflow/c/kernels.h"
#include "tensorflow/c/tf_tensor.h"

namespace {

using Dims = std::vector<int64_t>;

int64_t count(const Dims& d) { return std::accumulate(d.begin(), d.end(), int64_t{1}, std::multiplies<>()); }

Dims dims_of(const TF_Tensor* t) {
  Dims d(TF_NumDims(t));
  for (size_t i = 0; i < d.size(); ++i) d[i] = TF_Dim(t, static_cast<int>(i));
  return d;
}

std::string str(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

// Row-major strides of `d`.
Dims strides_of(const Dims& d) {
  Dims s(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * d[i + 1];
  return s;
}

// One compute call: inputs and outputs (TF_Tensor wrappers released at the end), the failure status, the queue.
class Call {
 public:
  explicit Call(TF_OpKernelContext* ctx) : ctx_(ctx), status_(TF_NewStatus()) {}
  ~Call() {
    for (TF_Tensor* t : owned_) TF_DeleteTensor(t);
    TF_DeleteStatus(status_);
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  TF_OpKernelContext* ctx() { return ctx_; }
  bool ok() const { return !failed_; }

  TF_Tensor* in(int i) {
    TF_Tensor* t = nullptr;
    TF_GetInput(ctx_, i, &t, status_);
    if (!check()) return nullptr;
    owned_.push_back(t);
    return t;
  }

  // A device-memory output; null (and the op failed, e.g. ResourceExhausted) when it cannot be allocated.
  TF_Tensor* out(int i, TF_DataType type, const Dims& d) {
    const size_t bytes = static_cast<size_t>(count(d)) * TF_DataTypeSize(type);
    TF_Tensor* t = TF_AllocateOutput(ctx_, i, type, d.data(), static_cast<int>(d.size()), bytes, status_);
    if (!check()) return nullptr;
    owned_.push_back(t);
    return t;
  }

  void fail(TF_Code code, const std::string& message) {
    if (failed_) return;
    TF_SetStatus(status_, code, message.c_str());
    TF_OpKernelContext_Failure(ctx_, status_);
    failed_ = true;
  }

  // Enqueues `task` as a kernel launch on this op's stream.
  void launch(std::function<void()> task) {
    SP_Stream stream = TF_GetStream(ctx_, status_);
    if (!check()) return;
    stream->queue->enqueue(std::move(task), /*kernel=*/true);
  }

  // An integer host-memory input (shape, axes, multiples) as int64 values.
  bool host_ints(int i, Dims* values) {
    TF_Tensor* t = in(i);
    if (t == nullptr) return false;
    const int64_t n = TF_TensorElementCount(t);
    values->resize(n);
    if (TF_TensorType(t) == TF_INT32) {
      auto* p = static_cast<const int32_t*>(TF_TensorData(t));
      std::copy(p, p + n, values->begin());
    } else if (TF_TensorType(t) == TF_INT64) {
      auto* p = static_cast<const int64_t*>(TF_TensorData(t));
      std::copy(p, p + n, values->begin());
    } else {
      fail(TF_INVALID_ARGUMENT, "expected an int32 or int64 host tensor");
      return false;
    }
    return true;
  }

 private:
  bool check() {
    if (TF_GetCode(status_) == TF_OK) return true;
    TF_OpKernelContext_Failure(ctx_, status_);
    failed_ = true;
    return false;
  }

  TF_OpKernelContext* ctx_;
  TF_Status* status_;
  std::vector<TF_Tensor*> owned_;
  bool failed_ = false;
};

template <typename T>
T* data(TF_Tensor* t) {
  return static_cast<T*>(TF_TensorData(t));
}

// ---- broadcasting ------------------------------------------------------------------------------------------------

// Numpy-style broadcast of `shapes`: the output shape and, per input, strides over it (0 on a broadcast axis).
bool broadcast(const std::vector<Dims>& shapes, Dims* out, std::vector<Dims>* strides) {
  size_t rank = 0;
  for (const Dims& s : shapes) rank = std::max(rank, s.size());
  out->assign(rank, 1);
  for (const Dims& s : shapes) {
    for (size_t k = 0; k < s.size(); ++k) {
      int64_t& o = (*out)[rank - s.size() + k];
      if (s[k] == o || s[k] == 1) continue;
      if (o != 1) return false;
      o = s[k];
    }
  }
  strides->clear();
  for (const Dims& s : shapes) {
    Dims own = strides_of(s), st(rank, 0);
    for (size_t k = 0; k < s.size(); ++k) {
      if (s[k] != 1) st[rank - s.size() + k] = own[k];
    }
    strides->push_back(st);
  }
  return true;
}

// Calls f(output index, offsets into each input) for every element of `out`, in row-major order.
template <size_t K, typename F>
void for_each(const Dims& out, const std::vector<Dims>& strides, F f) {
  const int64_t n = count(out);
  if (n == 0) return;
  std::array<int64_t, K> off{};
  if (out.empty()) {
    f(0, off);
    return;
  }
  const size_t r = out.size();
  const int64_t inner = out[r - 1];
  std::array<int64_t, K> step{};
  for (size_t k = 0; k < K; ++k) step[k] = strides[k][r - 1];
  Dims idx(r, 0);
  for (int64_t o = 0; o < n; o += inner) {
    std::array<int64_t, K> p = off;
    for (int64_t j = 0; j < inner; ++j) {
      f(o + j, p);
      for (size_t k = 0; k < K; ++k) p[k] += step[k];
    }
    for (int d = static_cast<int>(r) - 2; d >= 0; --d) {
      if (++idx[d] < out[d]) {
        for (size_t k = 0; k < K; ++k) off[k] += strides[k][d];
        break;
      }
      for (size_t k = 0; k < K; ++k) off[k] -= strides[k][d] * (out[d] - 1);
      idx[d] = 0;
    }
  }
}

// ---- element-wise ------------------------------------------------------------------------------------------------

template <float (*F)(float)>
void unary(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor* x = c.in(0);
  if (!x) return;
  TF_Tensor* y = c.out(0, TF_FLOAT, dims_of(x));
  if (!y) return;
  const float* a = data<float>(x);
  float* b = data<float>(y);
  const int64_t n = TF_TensorElementCount(x);
  c.launch([a, b, n] {
    for (int64_t i = 0; i < n; ++i) b[i] = F(a[i]);
  });
}

float neg(float x) { return -x; }
float exp_(float x) { return std::exp(x); }
float log1p_(float x) { return std::log1p(x); }
float reciprocal(float x) { return 1.0f / x; }
float relu(float x) { return x > 0.0f ? x : 0.0f; }
float zero(float) { return 0.0f; }

template <typename Out, Out (*F)(float, float)>
void binary(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor* x = c.in(0);
  TF_Tensor* y = x ? c.in(1) : nullptr;
  if (!y) return;
  Dims shape;
  std::vector<Dims> strides;
  if (!broadcast({dims_of(x), dims_of(y)}, &shape, &strides)) {
    return c.fail(TF_INVALID_ARGUMENT, "Incompatible shapes: " + str(dims_of(x)) + " vs. " + str(dims_of(y)));
  }
  TF_Tensor* z = c.out(0, std::is_same<Out, bool>::value ? TF_BOOL : TF_FLOAT, shape);
  if (!z) return;
  const float* a = data<float>(x);
  const float* b = data<float>(y);
  Out* o = data<Out>(z);
  c.launch([a, b, o, shape, strides] {
    for_each<2>(shape, strides, [&](int64_t i, const std::array<int64_t, 2>& p) { o[i] = F(a[p[0]], b[p[1]]); });
  });
}

float add(float a, float b) { return a + b; }
float sub(float a, float b) { return a - b; }
float mul(float a, float b) { return a * b; }
float div_(float a, float b) { return a / b; }
float relu_grad(float g, float x) { return x > 0.0f ? g : 0.0f; }
bool greater_equal(float a, float b) { return a >= b; }

// Select (condition the shape of the branches, or a vector over their first axis) and SelectV2 (broadcasting).
void select(void*, TF_OpKernelContext* ctx, bool v2) {
  Call c(ctx);
  TF_Tensor* cond = c.in(0);
  TF_Tensor* t = cond ? c.in(1) : nullptr;
  TF_Tensor* e = t ? c.in(2) : nullptr;
  if (!e) return;
  Dims cd = dims_of(cond), td = dims_of(t), ed = dims_of(e), shape;
  std::vector<Dims> strides;
  if (!v2 && cd.size() == 1 && td.size() > 1 && cd[0] == td[0] && td == ed) {
    cd.resize(td.size(), 1);  // Select's vector condition picks whole rows
  }
  if ((!v2 && td != ed) || !broadcast({cd, td, ed}, &shape, &strides) || (!v2 && shape != td)) {
    return c.fail(TF_INVALID_ARGUMENT, "Select: incompatible shapes " + str(dims_of(cond)) + ", " + str(td) + ", " +
                                           str(ed));
  }
  TF_Tensor* out = c.out(0, TF_FLOAT, shape);
  if (!out) return;
  const bool* k = data<bool>(cond);
  const float* a = data<float>(t);
  const float* b = data<float>(e);
  float* o = data<float>(out);
  c.launch([k, a, b, o, shape, strides] {
    for_each<3>(shape, strides,
                [&](int64_t i, const std::array<int64_t, 3>& p) { o[i] = k[p[0]] ? a[p[1]] : b[p[2]]; });
  });
}
void select_v1(void* k, TF_OpKernelContext* ctx) { select(k, ctx, false); }
void select_v2(void* k, TF_OpKernelContext* ctx) { select(k, ctx, true); }

void add_n(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  const int n = TF_NumInputs(ctx);
  std::vector<const float*> xs;
  Dims shape;
  for (int i = 0; i < n; ++i) {
    TF_Tensor* x = c.in(i);
    if (!x) return;
    if (i == 0) shape = dims_of(x);
    if (dims_of(x) != shape) return c.fail(TF_INVALID_ARGUMENT, "AddN: inputs must have the same shape");
    xs.push_back(data<float>(x));
  }
  TF_Tensor* out = c.out(0, TF_FLOAT, shape);
  if (!out) return;
  float* o = data<float>(out);
  const int64_t size = count(shape);
  c.launch([xs, o, size] {
    for (int64_t j = 0; j < size; ++j) {
      float s = 0.0f;
      for (const float* x : xs) s += x[j];
      o[j] = s;
    }
  });
}

// Fill(dims in host memory, a scalar value on the device): what tf.zeros/tf.ones run (the ceiling probe's first value).
void fill(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  Dims shape;
  if (!c.host_ints(0, &shape)) return;
  TF_Tensor* value = c.in(1);
  if (!value) return;
  if (TF_TensorElementCount(value) != 1) return c.fail(TF_INVALID_ARGUMENT, "Fill: value must be a scalar");
  TF_Tensor* y = c.out(0, TF_FLOAT, shape);
  if (!y) return;
  const float* v = data<float>(value);
  float* o = data<float>(y);
  const int64_t n = count(shape);
  c.launch([v, o, n] { std::fill(o, o + n, *v); });
}

// Cast to float32 from float32, int32, int64 or bool (device memory both sides).
void cast(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor* x = c.in(0);
  if (!x) return;
  TF_Tensor* y = c.out(0, TF_FLOAT, dims_of(x));
  if (!y) return;
  const void* a = TF_TensorData(x);
  float* b = data<float>(y);
  const int64_t n = TF_TensorElementCount(x);
  const TF_DataType from = TF_TensorType(x);
  c.launch([a, b, n, from] {
    for (int64_t i = 0; i < n; ++i) {
      switch (from) {
        case TF_INT32: b[i] = static_cast<float>(static_cast<const int32_t*>(a)[i]); break;
        case TF_INT64: b[i] = static_cast<float>(static_cast<const int64_t*>(a)[i]); break;
        case TF_BOOL: b[i] = static_cast<const bool*>(a)[i] ? 1.0f : 0.0f; break;
        default: b[i] = static_cast<const float*>(a)[i];
      }
    }
  });
}

// ---- matrix product, reductions, shapes --------------------------------------------------------------------------

struct MatMulAttrs {
  bool transpose_a = false, transpose_b = false;
};

void* matmul_create(TF_OpKernelConstruction* ctx) {
  auto* attrs = new MatMulAttrs;
  TF_Status* s = TF_NewStatus();
  unsigned char v = 0;
  TF_OpKernelConstruction_GetAttrBool(ctx, "transpose_a", &v, s);
  attrs->transpose_a = TF_GetCode(s) == TF_OK && v;
  TF_OpKernelConstruction_GetAttrBool(ctx, "transpose_b", &v, s);
  attrs->transpose_b = TF_GetCode(s) == TF_OK && v;
  TF_DeleteStatus(s);
  return attrs;
}
void matmul_delete(void* attrs) { delete static_cast<MatMulAttrs*>(attrs); }

void matmul(void* kernel, TF_OpKernelContext* ctx) {
  const auto* attrs = static_cast<MatMulAttrs*>(kernel);
  Call c(ctx);
  TF_Tensor* x = c.in(0);
  TF_Tensor* y = x ? c.in(1) : nullptr;
  if (!y) return;
  Dims ad = dims_of(x), bd = dims_of(y);
  if (ad.size() != 2 || bd.size() != 2) return c.fail(TF_INVALID_ARGUMENT, "MatMul: both inputs must be matrices");
  const int64_t m = attrs->transpose_a ? ad[1] : ad[0], k = attrs->transpose_a ? ad[0] : ad[1];
  const int64_t k2 = attrs->transpose_b ? bd[1] : bd[0], n = attrs->transpose_b ? bd[0] : bd[1];
  if (k != k2) {
    return c.fail(TF_INVALID_ARGUMENT, "Matrix size-incompatible: In[0]: " + str(ad) + ", In[1]: " + str(bd));
  }
  TF_Tensor* z = c.out(0, TF_FLOAT, {m, n});
  if (!z) return;
  const float* a = data<float>(x);
  const float* b = data<float>(y);
  float* o = data<float>(z);
  const bool ta = attrs->transpose_a, tb = attrs->transpose_b;
  c.launch([a, b, o, ad, bd, m, n, ta, tb] {
    using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const Matrix> A(a, ad[0], ad[1]), B(b, bd[0], bd[1]);
    Eigen::Map<Matrix> C(o, m, n);
    if (ta && tb) C.noalias() = A.transpose() * B.transpose();
    else if (ta) C.noalias() = A.transpose() * B;
    else if (tb) C.noalias() = A * B.transpose();
    else C.noalias() = A * B;
  });
}

struct ReduceAttrs {
  bool keep_dims = false;
};

void* reduce_create(TF_OpKernelConstruction* ctx) {
  auto* attrs = new ReduceAttrs;
  TF_Status* s = TF_NewStatus();
  unsigned char v = 0;
  TF_OpKernelConstruction_GetAttrBool(ctx, "keep_dims", &v, s);
  attrs->keep_dims = TF_GetCode(s) == TF_OK && v;
  TF_DeleteStatus(s);
  return attrs;
}
void reduce_delete(void* attrs) { delete static_cast<ReduceAttrs*>(attrs); }

// Sum or Mean over the axes in input 1 (host memory); accumulated in double.
void reduce(void* kernel, TF_OpKernelContext* ctx, bool mean) {
  const bool keep_dims = static_cast<ReduceAttrs*>(kernel)->keep_dims;
  Call c(ctx);
  TF_Tensor* x = c.in(0);
  Dims axes;
  if (!x || !c.host_ints(1, &axes)) return;
  const Dims in = dims_of(x);
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<bool> reduced(rank, false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) return c.fail(TF_INVALID_ARGUMENT, "Invalid reduction dimension " + std::to_string(a));
    reduced[(a + rank) % rank] = true;
  }
  Dims out, kept;  // kept: the output shape with reduced axes as 1 (for strides)
  int64_t n_reduced = 1;
  for (int64_t i = 0; i < rank; ++i) {
    kept.push_back(reduced[i] ? 1 : in[i]);
    if (reduced[i]) n_reduced *= in[i];
    if (!reduced[i] || keep_dims) out.push_back(kept.back());
  }
  TF_Tensor* y = c.out(0, TF_FLOAT, out);
  if (!y) return;
  Dims out_strides = strides_of(kept);
  for (int64_t i = 0; i < rank; ++i) {
    if (reduced[i]) out_strides[i] = 0;
  }
  const float* a = data<float>(x);
  float* o = data<float>(y);
  const int64_t n_out = count(out);
  const std::vector<Dims> strides{strides_of(in), out_strides};
  c.launch([a, o, in, strides, n_out, n_reduced, mean] {
    std::vector<double> acc(n_out, 0.0);
    for_each<2>(in, strides, [&](int64_t, const std::array<int64_t, 2>& p) { acc[p[1]] += a[p[0]]; });
    for (int64_t i = 0; i < n_out; ++i) {
      o[i] = static_cast<float>(mean ? (n_reduced ? acc[i] / n_reduced : NAN) : acc[i]);
    }
  });
}
void sum(void* k, TF_OpKernelContext* ctx) { reduce(k, ctx, false); }
void mean(void* k, TF_OpKernelContext* ctx) { reduce(k, ctx, true); }

// Tile: the input repeated `multiples` (host memory) times along each axis.
void tile(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor* x = c.in(0);
  Dims multiples;
  if (!x || !c.host_ints(1, &multiples)) return;
  const Dims in = dims_of(x);
  if (multiples.size() != in.size()) return c.fail(TF_INVALID_ARGUMENT, "Tile: multiples must match the input's rank");
  Dims out(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = in[i] * multiples[i];
  TF_Tensor* y = c.out(0, TF_FLOAT, out);
  if (!y) return;
  const float* a = data<float>(x);
  float* o = data<float>(y);
  c.launch([a, o, in, out] {
    const Dims in_strides = strides_of(in);
    const int64_t n = count(out);
    Dims idx(out.size(), 0);
    for (int64_t i = 0; i < n; ++i) {
      int64_t src = 0;
      for (size_t d = 0; d < out.size(); ++d) src += (idx[d] % in[d]) * in_strides[d];
      o[i] = a[src];
      for (int d = static_cast<int>(out.size()) - 1; d >= 0 && ++idx[d] == out[d]; --d) idx[d] = 0;
    }
  });
}

// GatherV2 with batch_dims 0: params float32 (device), indices int32/int64 (device), axis (host).
void gather(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor* params = c.in(0);
  TF_Tensor* indices = params ? c.in(1) : nullptr;
  Dims axis_value;
  if (!indices || !c.host_ints(2, &axis_value)) return;
  const Dims pd = dims_of(params), id = dims_of(indices);
  const int64_t rank = static_cast<int64_t>(pd.size());
  if (axis_value.size() != 1 || axis_value[0] < -rank || axis_value[0] >= rank) {
    return c.fail(TF_INVALID_ARGUMENT, "GatherV2: axis out of range");
  }
  const int64_t axis = (axis_value[0] + rank) % rank;
  Dims out(pd.begin(), pd.begin() + axis);
  out.insert(out.end(), id.begin(), id.end());
  out.insert(out.end(), pd.begin() + axis + 1, pd.end());
  TF_Tensor* y = c.out(0, TF_FLOAT, out);
  if (!y) return;
  const int64_t outer = count(Dims(pd.begin(), pd.begin() + axis)), limit = pd[axis];
  const int64_t inner = count(Dims(pd.begin() + axis + 1, pd.end())), n_idx = count(id);
  const float* a = data<float>(params);
  const void* ix = TF_TensorData(indices);
  const bool wide = TF_TensorType(indices) == TF_INT64;
  float* o = data<float>(y);
  c.launch([a, ix, wide, o, outer, limit, inner, n_idx] {
    for (int64_t p = 0; p < outer; ++p) {
      for (int64_t j = 0; j < n_idx; ++j) {
        const int64_t k = wide ? static_cast<const int64_t*>(ix)[j] : static_cast<const int32_t*>(ix)[j];
        float* dst = o + (p * n_idx + j) * inner;
        // An index out of range gives zeros, as TensorFlow's GPU kernel does (it cannot raise from the device).
        if (k < 0 || k >= limit) std::fill(dst, dst + inner, 0.0f);
        else std::copy(a + (p * limit + k) * inner, a + (p * limit + k + 1) * inner, dst);
      }
    }
  });
}

// ---- softmax -----------------------------------------------------------------------------------------------------

void log_softmax(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor* x = c.in(0);
  if (!x) return;
  const Dims d = dims_of(x);
  if (d.empty()) return c.fail(TF_INVALID_ARGUMENT, "LogSoftmax: logits must have rank ≥ 1");
  TF_Tensor* y = c.out(0, TF_FLOAT, d);
  if (!y) return;
  const float* a = data<float>(x);
  float* o = data<float>(y);
  const int64_t cols = d.back(), rows = cols ? count(d) / cols : 0;
  c.launch([a, o, rows, cols] {
    for (int64_t r = 0; r < rows; ++r) {
      const float* in = a + r * cols;
      float* out = o + r * cols;
      const float top = *std::max_element(in, in + cols);
      double s = 0.0;
      for (int64_t j = 0; j < cols; ++j) s += std::exp(in[j] - top);
      const float log_s = static_cast<float>(std::log(s));
      for (int64_t j = 0; j < cols; ++j) out[j] = in[j] - top - log_s;
    }
  });
}

// SoftmaxCrossEntropyWithLogits(features, labels) -> (loss per row, backprop = softmax − labels).
void softmax_xent(void*, TF_OpKernelContext* ctx) {
  Call c(ctx);
  TF_Tensor* f = c.in(0);
  TF_Tensor* l = f ? c.in(1) : nullptr;
  if (!l) return;
  const Dims d = dims_of(f);
  if (d.size() != 2 || dims_of(l) != d) {
    return c.fail(TF_INVALID_ARGUMENT, "SoftmaxCrossEntropyWithLogits: logits and labels must be matrices of one shape");
  }
  TF_Tensor* loss = c.out(0, TF_FLOAT, {d[0]});
  TF_Tensor* back = loss ? c.out(1, TF_FLOAT, d) : nullptr;
  if (!back) return;
  const float* logits = data<float>(f);
  const float* labels = data<float>(l);
  float* lo = data<float>(loss);
  float* bo = data<float>(back);
  const int64_t rows = d[0], cols = d[1];
  c.launch([logits, labels, lo, bo, rows, cols] {
    for (int64_t r = 0; r < rows; ++r) {
      const float* in = logits + r * cols;
      const float* y = labels + r * cols;
      const float top = cols ? *std::max_element(in, in + cols) : 0.0f;
      double s = 0.0;
      for (int64_t j = 0; j < cols; ++j) s += std::exp(in[j] - top);
      const double log_s = std::log(s);
      double total = 0.0;
      for (int64_t j = 0; j < cols; ++j) {
        const double log_p = in[j] - top - log_s;
        total -= y[j] * log_p;
        bo[r * cols + j] = static_cast<float>(std::exp(log_p) - y[j]);
      }
      lo[r] = static_cast<float>(total);
    }
  });
}

// ---- registration ------------------------------------------------------------------------------------------------

using Compute = void (*)(void*, TF_OpKernelContext*);

struct Kernel {
  const char* op;
  Compute compute;
  std::vector<std::pair<const char*, TF_DataType>> types;  // attr -> the one type allowed
  std::vector<const char*> host_memory;                     // args TensorFlow keeps in host memory
  void* (*create)(TF_OpKernelConstruction*) = nullptr;
  void (*destroy)(void*) = nullptr;
};

void register_kernel(const Kernel& k) {
  if (standin::config().exclude.count(k.op)) return;  // SIMPLENN_STANDIN_EXCLUDE: provoke a no-kernel error
  TF_KernelBuilder* b = TF_NewKernelBuilder(k.op, standin::kDeviceType, k.create, k.compute, k.destroy);
  TF_Status* s = TF_NewStatus();
  for (const auto& [attr, type] : k.types) TF_KernelBuilder_TypeConstraint(b, attr, type, s);
  for (const char* arg : k.host_memory) TF_KernelBuilder_HostMemory(b, arg);
  TF_RegisterKernelBuilder(k.op, b, s);
  TF_DeleteStatus(s);
}

}  // namespace

extern "C" void TF_InitKernel() {
  const std::pair<const char*, TF_DataType> F{"T", TF_FLOAT};
  const std::vector<Kernel> kernels = {
      {"MatMul", matmul, {F}, {}, matmul_create, matmul_delete},
      {"AddV2", binary<float, add>, {F}},
      {"Sub", binary<float, sub>, {F}},
      {"Mul", binary<float, mul>, {F}},
      {"RealDiv", binary<float, div_>, {F}},
      {"ReluGrad", binary<float, relu_grad>, {F}},
      {"GreaterEqual", binary<bool, greater_equal>, {F}},
      {"Neg", unary<neg>, {F}},
      {"Exp", unary<exp_>, {F}},
      {"Log1p", unary<log1p_>, {F}},
      {"Reciprocal", unary<reciprocal>, {F}},
      {"Relu", unary<relu>, {F}},
      {"ZerosLike", unary<zero>, {F}},
      {"AddN", add_n, {F}},
      {"Fill", fill, {F, {"index_type", TF_INT32}}, {"dims"}},
      {"Select", select_v1, {F}},
      {"SelectV2", select_v2, {F}},
      {"Cast", cast, {{"SrcT", TF_INT32}, {"DstT", TF_FLOAT}}},
      {"Cast", cast, {{"SrcT", TF_INT64}, {"DstT", TF_FLOAT}}},
      {"Cast", cast, {{"SrcT", TF_BOOL}, {"DstT", TF_FLOAT}}},
      {"Cast", cast, {{"SrcT", TF_FLOAT}, {"DstT", TF_FLOAT}}},
      {"Sum", sum, {F, {"Tidx", TF_INT32}}, {"reduction_indices"}, reduce_create, reduce_delete},
      {"Mean", mean, {F, {"Tidx", TF_INT32}}, {"reduction_indices"}, reduce_create, reduce_delete},
      {"Tile", tile, {F, {"Tmultiples", TF_INT32}}, {"multiples"}},
      {"GatherV2", gather, {{"Tparams", TF_FLOAT}, {"Tindices", TF_INT32}, {"Taxis", TF_INT32}}, {"axis"}},
      {"GatherV2", gather, {{"Tparams", TF_FLOAT}, {"Tindices", TF_INT64}, {"Taxis", TF_INT32}}, {"axis"}},
      {"LogSoftmax", log_softmax, {F}},
      {"SoftmaxCrossEntropyWithLogits", softmax_xent, {F}},
  };
  for (const Kernel& k : kernels) register_kernel(k);
  standin::register_variable_kernels();
}
