// AssignSubVariableOp / AssignAddVariableOp on the stand-in: the one place that uses TensorFlow's C++ framework API.
//
// Why C++ here: updating a resource variable needs the variable object, which the C kernel API reaches only through
// TF_AssignUpdateVariable (kernels_experimental.h), and the Linux 2.21 wheel does not export that symbol. Without a
// device kernel TensorFlow falls back to its DEVICE_DEFAULT AssignSubVariableOp, which does the arithmetic on the
// calling host thread, at once: on an asynchronous device it subtracts a gradient the queue has not computed yet
// (checked: the weights came out wrong). tensorflow-metal, a C++ plugin too, registers its own.
#include <cstring>
#include <string>

#include "standin.h"
#include "tensorflow/c/kernels.h"
#include "tensorflow/core/framework/kernel_def_builder.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"

namespace standin {
namespace {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;

Queue& queue_of(OpKernelContext* ctx) {
  TF_Status* status = TF_NewStatus();
  SP_Stream stream = TF_GetStream(reinterpret_cast<TF_OpKernelContext*>(ctx), status);
  TF_DeleteStatus(status);
  return stream ? *stream->queue : device().queue;
}

template <bool Subtract>
class AssignUpdate : public OpKernel {
 public:
  explicit AssignUpdate(OpKernelConstruction* c) : OpKernel(c) {}

  void Compute(OpKernelContext* ctx) override {
    tensorflow::core::RefCountPtr<tensorflow::Var> var;
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 0), &var));
    const Tensor& value = ctx->input(1);
    tensorflow::mutex_lock lock(*var->mu());
    Tensor* current = var->tensor();
    OP_REQUIRES(ctx, current->dtype() == tensorflow::DT_FLOAT && value.dtype() == tensorflow::DT_FLOAT,
                tensorflow::errors::InvalidArgument("the stand-in updates float32 variables only"));
    OP_REQUIRES(ctx, current->shape().IsSameSize(value.shape()),
                tensorflow::errors::InvalidArgument("Cannot update variable with shape ",
                                                    current->shape().DebugString(), " using a Tensor with shape ",
                                                    value.shape().DebugString(), ", shapes must be equal."));
    Queue& queue = queue_of(ctx);
    // A read of the variable may still hold its buffer (ReadVariableOp aliases it) and be consumed by a kernel
    // enqueued later: update a copy then, as TensorFlow's own kernels do, so that reader keeps the old values.
    if (var->copy_on_read_mode.load() || !current->RefCountIsOne()) {
      Tensor fresh;
      OP_REQUIRES_OK(ctx, ctx->allocate_temp(current->dtype(), current->shape(), &fresh));
      const void* from = current->tensor_data().data();
      void* to = const_cast<char*>(fresh.tensor_data().data());
      const size_t bytes = current->TotalBytes();
      queue.enqueue([from, to, bytes] { std::memcpy(to, from, bytes); }, /*kernel=*/true);
      *current = fresh;
    }
    float* v = current->flat<float>().data();
    const float* d = value.flat<float>().data();
    const int64_t n = current->NumElements();
    queue.enqueue(
        [v, d, n] {
          for (int64_t i = 0; i < n; ++i) v[i] = Subtract ? v[i] - d[i] : v[i] + d[i];
        },
        /*kernel=*/true);
  }
};

template <bool Subtract>
OpKernel* make(OpKernelConstruction* c) {
  return new AssignUpdate<Subtract>(c);
}

void register_update(const char* op, OpKernel* (*create)(OpKernelConstruction*)) {
  if (config().exclude.count(op)) return;
  const tensorflow::KernelDef* def = tensorflow::KernelDefBuilder(op)
                                         .Device(kDeviceType)
                                         .HostMemory("resource")
                                         .TypeConstraint<float>("dtype")
                                         .Build();
  // The registrar only records the kernel; it is kept for the life of the process, like a static registration.
  new tensorflow::kernel_factory::OpKernelRegistrar(def, op, create);
}

}  // namespace

void register_variable_kernels() {
  register_update("AssignSubVariableOp", make<true>);
  register_update("AssignAddVariableOp", make<false>);
}

}  // namespace standin
