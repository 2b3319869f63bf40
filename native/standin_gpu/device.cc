// The stand-in GPU's stream executor: platform, device, memory, streams, events, copies (see standin.h).
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <vector>

#include "standin.h"
#include "tensorflow/c/experimental/stream_executor/stream_executor.h"

namespace standin {
namespace {

int64_t env_int(const char* name, int64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  long long value = std::strtoll(text, &end, 10);
  return (end != text && *end == '\0' && value >= 0) ? value : fallback;
}

std::set<std::string> env_list(const char* name) {
  std::set<std::string> out;
  const char* text = std::getenv(name);
  std::stringstream items(text ? text : "");
  for (std::string item; std::getline(items, item, ',');) {
    if (!item.empty()) out.insert(item);
  }
  return out;
}

constexpr int64_t kDefaultMemoryBytes = int64_t{4} << 30;
constexpr int64_t kDefaultLatencyUs = 30;
constexpr uint64_t kAlignment = 64;  // Eigen's maximum alignment in TensorFlow builds (EIGEN_MAX_ALIGN_BYTES)

uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const Config& config() {
  static const Config* c = new Config{env_int("SIMPLENN_STANDIN_MEM_BYTES", kDefaultMemoryBytes),
                                      env_int("SIMPLENN_STANDIN_LATENCY_US", kDefaultLatencyUs),
                                      env_list("SIMPLENN_STANDIN_EXCLUDE")};
  return *c;
}

Queue::Queue() {
  std::thread worker([this] { loop(); });
  worker_id_ = worker.get_id();
  worker.detach();  // the queue is never destroyed (see Device)
}

uint64_t Queue::enqueue(std::function<void()> task, bool kernel) {
  std::lock_guard<std::mutex> lock(mu_);
  tasks_.push_back({++enqueued_, kernel, std::move(task)});
  work_cv_.notify_one();
  return enqueued_;
}

uint64_t Queue::last_enqueued() {
  std::lock_guard<std::mutex> lock(mu_);
  return enqueued_;
}

uint64_t Queue::last_completed() {
  std::lock_guard<std::mutex> lock(mu_);
  return completed_;
}

bool Queue::done(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  return completed_ >= seq;
}

void Queue::wait_for(uint64_t seq) {
  if (on_worker()) return;  // a task waiting for the queue would wait for itself; order already holds
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return completed_ >= seq; });
}

void Queue::loop() {
  const auto latency = std::chrono::microseconds(config().launch_latency_us);
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return !tasks_.empty(); });
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    // A sleep, not a spin: the host thread shares the machine's cores with this one.
    if (task.kernel && latency.count() > 0) std::this_thread::sleep_for(latency);
    task.fn();
    std::lock_guard<std::mutex> lock(mu_);
    completed_ = task.seq;
    done_cv_.notify_all();
  }
}

void* Memory::allocate(uint64_t size) {
  const uint64_t rounded = (std::max<uint64_t>(size, 1) + kAlignment - 1) / kAlignment * kAlignment;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_use_ + static_cast<int64_t>(rounded) > config().memory_bytes) return nullptr;
    in_use_ += rounded;
    peak_ = std::max(peak_, in_use_);
    largest_ = std::max<int64_t>(largest_, rounded);
    ++num_allocs_;
  }
  void* ptr = std::aligned_alloc(kAlignment, rounded);
  if (ptr == nullptr) release(nullptr, size);
  return ptr;
}

void Memory::release(void* ptr, uint64_t size) {
  const uint64_t rounded = (std::max<uint64_t>(size, 1) + kAlignment - 1) / kAlignment * kAlignment;
  std::free(ptr);
  std::lock_guard<std::mutex> lock(mu_);
  in_use_ -= rounded;
}

Memory::Stats Memory::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return {num_allocs_, in_use_, peak_, largest_, config().memory_bytes};
}

Device& device() {
  static Device* d = new Device;
  return *d;
}

}  // namespace standin

// ---- the C stream executor -------------------------------------------------------------------------------------
namespace {

using standin::device;

struct SP_Event_st_impl {
  uint64_t seq = 0;  // the queue position recorded; 0 = nothing recorded yet (complete)
};
struct SP_Timer_st_impl {
  uint64_t start_ns = 0, stop_ns = 0;
};

SP_Event_st_impl* ev(SP_Event e) { return reinterpret_cast<SP_Event_st_impl*>(e); }
SP_Timer_st_impl* tm(SP_Timer t) { return reinterpret_cast<SP_Timer_st_impl*>(t); }

void ok(TF_Status* status) { TF_SetStatus(status, TF_OK, ""); }

// -- memory
void allocate(const SP_Device*, uint64_t size, int64_t, SP_DeviceMemoryBase* mem) {
  mem->struct_size = SP_DEVICE_MEMORY_BASE_STRUCT_SIZE;
  mem->opaque = device().memory.allocate(size);
  mem->size = mem->opaque ? size : 0;
}

void deallocate(const SP_Device*, SP_DeviceMemoryBase* mem) {
  if (mem->opaque == nullptr) return;
  // Freed in queue order: a kernel already enqueued may still read or write this memory.
  void* ptr = mem->opaque;
  uint64_t size = mem->size;
  device().queue.enqueue([ptr, size] { device().memory.release(ptr, size); });
}

void* host_memory_allocate(const SP_Device*, uint64_t size) {
  return std::aligned_alloc(64, (std::max<uint64_t>(size, 1) + 63) / 64 * 64);
}
void host_memory_deallocate(const SP_Device*, void* mem) { std::free(mem); }

TF_Bool get_allocator_stats(const SP_Device*, SP_AllocatorStats* stats) {
  auto s = device().memory.stats();
  stats->struct_size = SP_ALLOCATORSTATS_STRUCT_SIZE;
  stats->num_allocs = s.num_allocs;
  stats->bytes_in_use = s.bytes_in_use;
  stats->peak_bytes_in_use = s.peak_bytes_in_use;
  stats->largest_alloc_size = s.largest_alloc_size;
  stats->has_bytes_limit = 1;
  stats->bytes_limit = s.limit;
  return true;
}

TF_Bool device_memory_usage(const SP_Device*, int64_t* free, int64_t* total) {
  auto s = device().memory.stats();
  *total = s.limit;
  *free = s.limit - s.bytes_in_use;
  return true;
}

// -- streams: all share the device's one queue
void create_stream(const SP_Device*, SP_Stream* stream, TF_Status* status) {
  *stream = new SP_Stream_st{&device().queue};
  ok(status);
}
void destroy_stream(const SP_Device*, SP_Stream stream) { delete stream; }
void create_stream_dependency(const SP_Device*, SP_Stream, SP_Stream, TF_Status* status) {
  ok(status);  // one in-order queue: later work already follows earlier work of every stream
}
void get_stream_status(const SP_Device*, SP_Stream, TF_Status* status) { ok(status); }

// -- events: a position in the queue
void create_event(const SP_Device*, SP_Event* event, TF_Status* status) {
  *event = reinterpret_cast<SP_Event>(new SP_Event_st_impl);
  ok(status);
}
void destroy_event(const SP_Device*, SP_Event event) { delete ev(event); }
SE_EventStatus get_event_status(const SP_Device*, SP_Event event) {
  return device().queue.done(ev(event)->seq) ? SE_EVENT_COMPLETE : SE_EVENT_PENDING;
}
void record_event(const SP_Device*, SP_Stream stream, SP_Event event, TF_Status* status) {
  ev(event)->seq = stream->queue->enqueue([] {});
  ok(status);
}
void wait_for_event(const SP_Device* const, SP_Stream, SP_Event, TF_Status* const status) {
  ok(status);  // the event was recorded earlier on the same in-order queue
}
void block_host_for_event(const SP_Device*, SP_Event event, TF_Status* status) {
  device().queue.wait_for(ev(event)->seq);
  ok(status);
}
void block_host_until_done(const SP_Device*, SP_Stream stream, TF_Status* status) {
  stream->queue->drain();
  ok(status);
}
void synchronize_all_activity(const SP_Device*, TF_Status* status) {
  device().queue.drain();
  ok(status);
}

// -- timers
void create_timer(const SP_Device*, SP_Timer* timer, TF_Status* status) {
  *timer = reinterpret_cast<SP_Timer>(new SP_Timer_st_impl);
  ok(status);
}
void destroy_timer(const SP_Device*, SP_Timer timer) { delete tm(timer); }
void start_timer(const SP_Device*, SP_Stream stream, SP_Timer timer, TF_Status* status) {
  stream->queue->enqueue([t = tm(timer)] { t->start_ns = standin::now_ns(); });
  ok(status);
}
void stop_timer(const SP_Device*, SP_Stream stream, SP_Timer timer, TF_Status* status) {
  stream->queue->enqueue([t = tm(timer)] { t->stop_ns = standin::now_ns(); });
  ok(status);
}
uint64_t timer_nanoseconds(SP_Timer timer) { return tm(timer)->stop_ns - tm(timer)->start_ns; }

// -- copies: enqueued; the host learns of completion through an event or a block
void memcpy_dtoh(const SP_Device*, SP_Stream stream, void* host_dst, const SP_DeviceMemoryBase* src,
                 uint64_t size, TF_Status* status) {
  const void* from = src->opaque;
  stream->queue->enqueue([host_dst, from, size] { std::memcpy(host_dst, from, size); });
  ok(status);
}
void memcpy_htod(const SP_Device*, SP_Stream stream, SP_DeviceMemoryBase* dst, const void* host_src,
                 uint64_t size, TF_Status* status) {
  // Staged at enqueue, as a GPU driver stages a copy from pageable host memory: the caller may reuse its buffer.
  auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(host_src),
                                                    static_cast<const char*>(host_src) + size);
  void* to = dst->opaque;
  stream->queue->enqueue([to, staged] { std::memcpy(to, staged->data(), staged->size()); });
  ok(status);
}
void memcpy_dtod(const SP_Device*, SP_Stream stream, SP_DeviceMemoryBase* dst, const SP_DeviceMemoryBase* src,
                 uint64_t size, TF_Status* status) {
  void* to = dst->opaque;
  const void* from = src->opaque;
  stream->queue->enqueue([to, from, size] { std::memmove(to, from, size); });
  ok(status);
}
// The blocking copies wait for everything enqueued before them, then copy on the calling thread.
void sync_memcpy_dtoh(const SP_Device*, void* host_dst, const SP_DeviceMemoryBase* src, uint64_t size,
                      TF_Status* status) {
  device().queue.drain();
  std::memcpy(host_dst, src->opaque, size);
  ok(status);
}
void sync_memcpy_htod(const SP_Device*, SP_DeviceMemoryBase* dst, const void* host_src, uint64_t size,
                      TF_Status* status) {
  device().queue.drain();
  std::memcpy(dst->opaque, host_src, size);
  ok(status);
}
void sync_memcpy_dtod(const SP_Device*, SP_DeviceMemoryBase* dst, const SP_DeviceMemoryBase* src, uint64_t size,
                      TF_Status* status) {
  device().queue.drain();
  std::memmove(dst->opaque, src->opaque, size);
  ok(status);
}

void mem_zero(const SP_Device*, SP_Stream stream, SP_DeviceMemoryBase* location, uint64_t size,
              TF_Status* status) {
  void* to = location->opaque;
  stream->queue->enqueue([to, size] { std::memset(to, 0, size); });
  ok(status);
}
void memset8(const SP_Device*, SP_Stream stream, SP_DeviceMemoryBase* location, uint8_t pattern, uint64_t size,
             TF_Status* status) {
  void* to = location->opaque;
  stream->queue->enqueue([to, pattern, size] { std::memset(to, pattern, size); });
  ok(status);
}
void memset32(const SP_Device*, SP_Stream stream, SP_DeviceMemoryBase* location, uint32_t pattern, uint64_t size,
              TF_Status* status) {
  auto* to = static_cast<uint32_t*>(location->opaque);
  stream->queue->enqueue([to, pattern, size] {
    for (uint64_t i = 0; i < size / 4; ++i) to[i] = pattern;
  });
  ok(status);
}

TF_Bool host_callback(const SP_Device*, SP_Stream stream, SE_StatusCallbackFn fn, void* arg) {
  stream->queue->enqueue([fn, arg] {
    TF_Status* status = TF_NewStatus();
    fn(arg, status);
    TF_DeleteStatus(status);
  });
  return true;
}

// -- platform and device
void get_device_count(const SP_Platform*, int* count, TF_Status* status) {
  *count = 1;
  ok(status);
}

void create_device(const SP_Platform*, SE_CreateDeviceParams* params, TF_Status* status) {
  params->device->struct_size = SP_DEVICE_STRUCT_SIZE;
  params->device->device_handle = &device();
  params->device->ordinal = params->ordinal;
  params->device->hardware_name = "simplenn stand-in GPU (host memory, one in-order queue)";
  params->device->device_vendor = "simplenn-bench";
  params->device->pci_bus_id = "0000:00:00.0";
  ok(status);
}
void destroy_device(const SP_Platform*, SP_Device*) {}

void create_device_fns(const SP_Platform*, SE_CreateDeviceFnsParams* params, TF_Status* status) {
  params->device_fns->struct_size = SP_DEVICE_FNS_STRUCT_SIZE;
  ok(status);
}
void destroy_device_fns(const SP_Platform*, SP_DeviceFns*) {}

void create_stream_executor(const SP_Platform*, SE_CreateStreamExecutorParams* params, TF_Status* status) {
  SP_StreamExecutor* se = params->stream_executor;
  se->struct_size = SP_STREAMEXECUTOR_STRUCT_SIZE;
  se->allocate = allocate;
  se->deallocate = deallocate;
  se->host_memory_allocate = host_memory_allocate;
  se->host_memory_deallocate = host_memory_deallocate;
  se->get_allocator_stats = get_allocator_stats;
  se->device_memory_usage = device_memory_usage;
  se->create_stream = create_stream;
  se->destroy_stream = destroy_stream;
  se->create_stream_dependency = create_stream_dependency;
  se->get_stream_status = get_stream_status;
  se->create_event = create_event;
  se->destroy_event = destroy_event;
  se->get_event_status = get_event_status;
  se->record_event = record_event;
  se->wait_for_event = wait_for_event;
  se->create_timer = create_timer;
  se->destroy_timer = destroy_timer;
  se->start_timer = start_timer;
  se->stop_timer = stop_timer;
  se->memcpy_dtoh = memcpy_dtoh;
  se->memcpy_htod = memcpy_htod;
  se->memcpy_dtod = memcpy_dtod;
  se->sync_memcpy_dtoh = sync_memcpy_dtoh;
  se->sync_memcpy_htod = sync_memcpy_htod;
  se->sync_memcpy_dtod = sync_memcpy_dtod;
  se->block_host_for_event = block_host_for_event;
  se->block_host_until_done = block_host_until_done;
  se->synchronize_all_activity = synchronize_all_activity;
  se->mem_zero = mem_zero;
  se->memset = memset8;
  se->memset32 = memset32;
  se->host_callback = host_callback;
  ok(status);
}
void destroy_stream_executor(const SP_Platform*, SP_StreamExecutor*) {}

void create_timer_fns(const SP_Platform*, SP_TimerFns* timer_fns, TF_Status* status) {
  timer_fns->struct_size = SP_TIMER_FNS_STRUCT_SIZE;
  timer_fns->nanoseconds = timer_nanoseconds;
  ok(status);
}
void destroy_timer_fns(const SP_Platform*, SP_TimerFns*) {}

void destroy_platform(SP_Platform*) {}
void destroy_platform_fns(SP_PlatformFns*) {}

}  // namespace

// Read by the tests through ctypes (the same library TensorFlow loaded): how many tasks the queue was given and how
// many have run. After run(k) returns, the second lags the first; a sync that waits closes the gap it saw.
extern "C" uint64_t simplenn_standin_enqueued() { return standin::device().queue.last_enqueued(); }
extern "C" uint64_t simplenn_standin_completed() { return standin::device().queue.last_completed(); }

extern "C" void SE_InitPlugin(SE_PlatformRegistrationParams* params, TF_Status* status) {
  params->major_version = SE_MAJOR;
  params->minor_version = SE_MINOR;
  params->patch_version = SE_PATCH;
  params->platform->struct_size = SP_PLATFORM_STRUCT_SIZE;
  params->platform->name = standin::kPlatformName;
  params->platform->type = standin::kDeviceType;
  params->platform->supports_unified_memory = false;
  // TensorFlow's BFC allocator over this device's memory, as for a CUDA GPU: it keeps the statistics
  // tf.config.experimental.get_memory_info reads (and resets), and grows on demand instead of taking the whole
  // limit at once. An allocation the plugin refuses becomes TensorFlow's ResourceExhaustedError.
  params->platform->use_bfc_allocator = true;
  params->platform->force_memory_growth = true;
  SP_PlatformFns* fns = params->platform_fns;
  fns->struct_size = SP_PLATFORM_FNS_STRUCT_SIZE;
  fns->get_device_count = get_device_count;
  fns->create_device = create_device;
  fns->destroy_device = destroy_device;
  fns->create_device_fns = create_device_fns;
  fns->destroy_device_fns = destroy_device_fns;
  fns->create_stream_executor = create_stream_executor;
  fns->destroy_stream_executor = destroy_stream_executor;
  fns->create_timer_fns = create_timer_fns;
  fns->destroy_timer_fns = destroy_timer_fns;
  params->destroy_platform = destroy_platform;
  params->destroy_platform_fns = destroy_platform_fns;
  ok(status);
}
