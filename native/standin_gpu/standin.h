// The stand-in GPU's device state, shared by the stream executor (device.cc) and the kernels (kernels.cc).
//
// One device, one in-order work queue served by one worker thread: every kernel, copy, memset, event and host
// callback of every stream is a task on it, so the order TensorFlow enqueues work in is the order it runs in (a
// GPU's streams give weaker ordering; one queue can only hide races TensorFlow would otherwise have to order with
// events, never invent one). The host thread only enqueues and returns: it sees a result once an event, a copy to
// the host or a block-until-done says the task ran. A sync that does not wait therefore reads stale values here,
// as it would on a real GPU.
#ifndef SIMPLENN_STANDIN_GPU_STANDIN_H_
#define SIMPLENN_STANDIN_GPU_STANDIN_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace standin {

// Names TensorFlow shows: the device type ("/device:SIMGPU:0") and the platform, which
// tf.config.experimental.get_device_details reports as device_name (tensorflow-metal reports METAL).
inline constexpr char kDeviceType[] = "SIMGPU";
inline constexpr char kPlatformName[] = "STANDIN";

// Settings read once from the environment when the library loads.
struct Config {
  int64_t memory_bytes;           // SIMPLENN_STANDIN_MEM_BYTES: device memory the plugin hands out
  int64_t launch_latency_us;      // SIMPLENN_STANDIN_LATENCY_US: worker-side delay before each kernel runs
  std::set<std::string> exclude;  // SIMPLENN_STANDIN_EXCLUDE: comma-separated op types left unregistered
};

const Config& config();

// The device's in-order queue: tasks numbered 1, 2, … in enqueue order, run one at a time by a worker thread.
class Queue {
 public:
  Queue();
  // Adds a task and returns its number; `kernel` tasks wait the launch latency before they run.
  uint64_t enqueue(std::function<void()> task, bool kernel = false);
  uint64_t last_enqueued();
  uint64_t last_completed();
  bool done(uint64_t seq);
  // Blocks the calling host thread until task `seq` (and so every earlier one) has run.
  void wait_for(uint64_t seq);
  void drain() { wait_for(last_enqueued()); }
  bool on_worker() const { return std::this_thread::get_id() == worker_id_; }

 private:
  struct Task {
    uint64_t seq;
    bool kernel;
    std::function<void()> fn;
  };
  void loop();

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Task> tasks_;
  uint64_t enqueued_ = 0, completed_ = 0;
  std::thread::id worker_id_;
};

// Device memory: host allocations the plugin owns, counted against config().memory_bytes.
class Memory {
 public:
  // Null when the allocation would exceed the limit (TensorFlow then raises ResourceExhausted).
  void* allocate(uint64_t size);
  void release(void* ptr, uint64_t size);
  struct Stats {
    int64_t num_allocs, bytes_in_use, peak_bytes_in_use, largest_alloc_size, limit;
  };
  Stats stats();

 private:
  std::mutex mu_;
  int64_t in_use_ = 0, peak_ = 0, num_allocs_ = 0, largest_ = 0;
};

// The one device: its queue and memory. Never destroyed, so the worker thread outlives every TensorFlow object
// that may still enqueue work while the process exits.
struct Device {
  Queue queue;
  Memory memory;
};

Device& device();

// Registers the variable-update kernels (variables.cc: C++ API), leaving out excluded ops.
void register_variable_kernels();

}  // namespace standin

// What an SP_Stream handle points to: the queue its work goes to.
struct SP_Stream_st {
  standin::Queue* queue;
};

#endif  // SIMPLENN_STANDIN_GPU_STANDIN_H_
