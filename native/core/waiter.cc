#include "core/waiter.h"

#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/addon.h"
#include "core/deadline.h"
#include "core/errors.h"

namespace shmkit {

namespace {

// Our own threads, grown on demand and kept 10 s when idle: a pending wait
// holds one of them, never one of libuv's four pool threads.
class WaiterPool {
 public:
  // Leaked on purpose: detached threads may outlive static destructors.
  static WaiterPool& Get() {
    static WaiterPool* pool = new WaiterPool();
    return *pool;
  }

  // Returns 0, or the errno of a failed pthread_create.
  int Submit(std::function<void()> task) {
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(std::move(task));
    if (idle_ >= queue_.size()) {
      ready_.notify_one();
      return 0;
    }
    int err = Spawn();
    if (err != 0) queue_.pop_back();
    return err;
  }

 private:
  static constexpr size_t kStackBytes = 256 * 1024;

  int Spawn() {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kStackBytes);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int err = pthread_create(&thread, &attr, &WaiterPool::ThreadMain, this);
    pthread_attr_destroy(&attr);
    return err;
  }

  static void* ThreadMain(void* self) {
    static_cast<WaiterPool*>(self)->Loop();
    return nullptr;
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      while (queue_.empty()) {
        idle_++;
        bool woke =
            ready_.wait_for(lock, std::chrono::seconds(10), [this] { return !queue_.empty(); });
        idle_--;
        if (!woke) return;  // idle for 10 s: let the thread go
      }
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  size_t idle_ = 0;
};

}  // namespace

// Shared by waiter threads and the environment: after the environment's
// cleanup starts, no thread may call into the thread-safe function.
struct Delivery {
  std::mutex mutex;
  bool alive = true;
  napi_threadsafe_function tsfn = nullptr;
  // Jobs of this environment still inside Run(): teardown waits for them,
  // since they may touch memory the environment owns (a SharedArrayBuffer).
  int running = 0;
  std::condition_variable idle;
};

struct Wait {
  uint32_t id = 0;
  std::unique_ptr<WaitJob> job;
  int64_t deadlineNs = kForever;
  WaitResult result = WaitResult::kError;
  std::atomic<bool> cancelled{false};
  std::atomic<bool> finished{false};  // Run() returned; `result` is set
  std::shared_ptr<Delivery> delivery;
  // JS thread only:
  bool suppressed = false;  // cancelled from JS: its promise is already settled
  bool undone = false;      // a success cancelled late was already handed back
  bool ref = true;
  napi_ref callback = nullptr;
  napi_ref keepAlive = nullptr;
};

namespace {

// How long environment teardown waits for cancelled jobs to return (they
// return at once, or within one kSliceNs slice).
constexpr auto kTeardownWait = std::chrono::seconds(2);

WaiterEnv* GetWaiterEnv(Napi::Env env) { return &GetAddonData(env).waiter; }

void Ref(napi_env env, WaiterEnv* state) {
  if (state->refs++ == 0) napi_ref_threadsafe_function(env, state->delivery->tsfn);
}

void Unref(napi_env env, WaiterEnv* state) {
  if (--state->refs == 0) napi_unref_threadsafe_function(env, state->delivery->tsfn);
}

void DeleteRefs(napi_env env, Wait* wait) {
  if (wait->callback != nullptr) napi_delete_reference(env, wait->callback);
  if (wait->keepAlive != nullptr) napi_delete_reference(env, wait->keepAlive);
}

// Runs on the JS thread for every finished wait.
void CallJs(napi_env env, napi_value, void* context, void* data) {
  Wait* wait = static_cast<Wait*>(data);
  if (env == nullptr) {  // environment torn down: the refs die with it
    delete wait;
    return;
  }
  auto* state = static_cast<WaiterEnv*>(context);
  state->waits.erase(wait->id);
  // Cancelled after it had already succeeded: hand back what it took (a
  // semaphore unit, a futex wake), or the next waiter would miss it.
  if (wait->suppressed && wait->result == WaitResult::kOk && !wait->undone) wait->job->Undo();
  if (!wait->suppressed) {
    if (wait->ref) Unref(env, state);
    Napi::HandleScope scope(env);
    Napi::Env napiEnv(env);
    Napi::Value error = napiEnv.Null();
    Napi::Value result = napiEnv.Null();
    if (wait->result == WaitResult::kError) {
      error = ErrnoError(napiEnv, wait->job->error, wait->job->syscall, wait->job->subject).Value();
    } else {
      result = Napi::String::New(napiEnv, WaitResultName(wait->result));
    }
    napi_value callback;
    napi_get_reference_value(env, wait->callback, &callback);
    napi_value args[2] = {error, result};
    napi_value ignored;
    napi_call_function(env, napiEnv.Undefined(), callback, 2, args, &ignored);
  }
  DeleteRefs(env, wait);
  delete wait;
}

void RunOnThread(Wait* wait) {
  wait->result = wait->job->Run(wait->deadlineNs, wait->cancelled);
  wait->finished.store(true, std::memory_order_release);
  std::shared_ptr<Delivery> delivery = wait->delivery;
  std::lock_guard<std::mutex> lock(delivery->mutex);
  if (!delivery->alive ||
      napi_call_threadsafe_function(delivery->tsfn, wait, napi_tsfn_nonblocking) != napi_ok) {
    delete wait;  // nobody left to tell; the napi refs die with the environment
  }
  if (--delivery->running == 0) delivery->idle.notify_all();
}

Napi::Value CancelWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto id = static_cast<uint32_t>(RequireNumber(info[0], "waitId"));
  WaiterEnv* state = GetWaiterEnv(env);
  auto found = state->waits.find(id);
  if (found == state->waits.end() || found->second->suppressed) {
    return Napi::Boolean::New(env, false);
  }
  Wait* wait = found->second;
  wait->suppressed = true;
  wait->cancelled.store(true);
  wait->job->Interrupt();
  // Already succeeded, result not yet delivered: hand back what it took now,
  // so the very next tryWait() finds it.
  if (wait->finished.load(std::memory_order_acquire) && wait->result == WaitResult::kOk) {
    wait->job->Undo();
    wait->undone = true;
  }
  if (wait->ref) Unref(env, state);
  return Napi::Boolean::New(env, true);
}

// Environment teardown (a Worker ends, or the process exits): cancel every
// pending wait and let its job return, so no thread outlives the memory it
// sleeps on; from then on no thread calls into the thread-safe function.
void StopDelivery(void* arg) {
  auto* state = static_cast<WaiterEnv*>(arg);
  Delivery& delivery = *state->delivery;
  std::unique_lock<std::mutex> lock(delivery.mutex);
  delivery.alive = false;
  for (auto& [id, wait] : state->waits) {
    if (wait->cancelled.exchange(true)) continue;
    wait->job->Interrupt();
  }
  delivery.idle.wait_for(lock, kTeardownWait, [&] { return delivery.running == 0; });
}

}  // namespace

const char* WaitResultName(WaitResult result) {
  switch (result) {
    case WaitResult::kOk:
      return "ok";
    case WaitResult::kNotEqual:
      return "not-equal";
    case WaitResult::kTimedOut:
      return "timed-out";
    case WaitResult::kCancelled:
      return "cancelled";
    default:
      return "error";
  }
}

AsyncArgs RequireAsyncArgs(const Napi::CallbackInfo& info, size_t first) {
  double timeoutMs = RequireNumber(info[first], "timeoutMs");
  bool ref = info[first + 1].ToBoolean();
  return {timeoutMs, ref, RequireFunction(info[first + 2], "callback")};
}

Napi::Value StartWait(Napi::Env env, std::unique_ptr<WaitJob> job, const AsyncArgs& args,
                      Napi::Value keepAlive) {
  WaiterEnv* state = GetWaiterEnv(env);
  auto* wait = new Wait();
  wait->id = state->nextId++;
  if (state->nextId == 0) state->nextId = 1;
  wait->job = std::move(job);
  wait->deadlineNs = DeadlineFromTimeoutMs(args.timeoutMs);
  wait->delivery = state->delivery;
  wait->ref = args.ref;
  napi_create_reference(env, args.callback, 1, &wait->callback);
  if (keepAlive.IsObject()) napi_create_reference(env, keepAlive, 1, &wait->keepAlive);
  {
    std::lock_guard<std::mutex> lock(state->delivery->mutex);
    state->delivery->running++;
  }
  int err = WaiterPool::Get().Submit([wait] { RunOnThread(wait); });
  if (err != 0) {
    {
      std::lock_guard<std::mutex> lock(state->delivery->mutex);
      state->delivery->running--;
    }
    DeleteRefs(env, wait);
    delete wait;
    throw ErrnoError(env, err, "pthread_create", "shmkit waiter thread");
  }
  state->waits.emplace(wait->id, wait);
  if (args.ref) Ref(env, state);
  return Napi::Number::New(env, wait->id);
}

WaitResult RunSync(Napi::Env env, WaitJob& job, double timeoutMs) {
  static const std::atomic<bool> kNever{false};
  WaitResult result = job.Run(DeadlineFromTimeoutMs(timeoutMs), kNever);
  if (result == WaitResult::kError) throw ErrnoError(env, job.error, job.syscall, job.subject);
  return result;
}

void InitWaiter(Napi::Env env, Napi::Object exports) {
  WaiterEnv* state = GetWaiterEnv(env);
  state->delivery = std::make_shared<Delivery>();
  napi_value name = Napi::String::New(env, "shmkit waiter");
  napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, state,
                                  CallJs, &state->delivery->tsfn);
  napi_unref_threadsafe_function(env, state->delivery->tsfn);
  // Registered after the thread-safe function, so it runs before Node's own
  // cleanup of it: from then on no waiter thread calls into it.
  napi_add_env_cleanup_hook(env, StopDelivery, state);
  ExportGroup(env, exports, "waiter", {{"cancel", CancelWait}});
}

}  // namespace shmkit
