#include "core/waiter.h"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "core/addon.h"
#include "core/deadline.h"
#include "core/errors.h"
#include "core/interrupt.h"
#include "core/poll-waiter.h"
#include "core/wait-internal.h"

namespace shmkit {

constexpr size_t kStackBytes = 256 * 1024;

int SpawnThread(void* (*main)(void*), void* arg, pthread_t* started) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kStackBytes);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  int err = pthread_create(&thread, &attr, main, arg);
  pthread_attr_destroy(&attr);
  if (err == 0 && started != nullptr) *started = thread;
  return err;
}

namespace {

// Submit's answer when the pool is full (not an errno).
constexpr int kPoolFull = -1;
constexpr size_t kDefaultMaxBlocking = 256;

// SHMKIT_MAX_BLOCKING_WAITERS, read once per process: a positive integer;
// anything else means the default.
size_t MaxBlockingWaiters() {
  static const size_t max = [] {
    const char* text = std::getenv("SHMKIT_MAX_BLOCKING_WAITERS");
    if (text == nullptr || *text == '\0') return kDefaultMaxBlocking;
    char* end = nullptr;
    errno = 0;
    unsigned long long value = std::strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value == 0 || text[0] == '-' || value > INT_MAX) {
      return kDefaultMaxBlocking;
    }
    return static_cast<size_t>(value);
  }();
  return max;
}

// Threads for the waits the kernel offers only as blocking calls (msgrcv,
// sem_clockwait, poll, and futex waits without futex_waitv): grown on
// demand, kept 10 s when idle, never one of libuv's four pool threads. A
// pending wait holds one; at most MaxBlockingWaiters() are taken at once.
class WaiterPool {
 public:
  // Leaked on purpose: detached threads may outlive static destructors.
  static WaiterPool& Get() {
    static WaiterPool* pool = new WaiterPool();
    return *pool;
  }

  // A task calls this once its wait is over, before it delivers the result:
  // the JS side may start the next wait as soon as it sees one end.
  void Release() {
    std::lock_guard<std::mutex> lock(mutex_);
    taken_--;
  }

  // Returns 0, kPoolFull, or the errno of a failed pthread_create.
  int Submit(std::function<void()> task) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (taken_ >= MaxBlockingWaiters()) return kPoolFull;
    queue_.push_back(std::move(task));
    taken_++;
    if (idle_ >= queue_.size()) {
      ready_.notify_one();
      return 0;
    }
    int err = SpawnThread(&WaiterPool::ThreadMain, this);
    if (err != 0) {
      queue_.pop_back();
      taken_--;
    }
    return err;
  }

 private:
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
  size_t taken_ = 0;  // waits submitted and not yet released
};

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

}  // namespace

// Hands a wait's result to the JS thread; called once per wait, on the
// thread that ran it.
void Deliver(Wait* wait, WaitResult result) {
  wait->result = result;
  wait->finished.store(true, std::memory_order_release);
  std::shared_ptr<Delivery> delivery = wait->delivery;
  std::lock_guard<std::mutex> lock(delivery->mutex);
  if (!delivery->alive ||
      napi_call_threadsafe_function(delivery->tsfn, wait, napi_tsfn_nonblocking) != napi_ok) {
    delete wait;  // nobody left to tell; the napi refs die with the environment
  }
  if (--delivery->running == 0) delivery->idle.notify_all();
}

namespace {

// A blocking wait on a thread of the pool.
void RunOnThread(Wait* wait) {
  WaitResult result = wait->job->Run(wait->deadlineNs, wait->cancelled);
  WaiterPool::Get().Release();
  Deliver(wait, result);
}

#ifdef __linux__
// --- Shared futex waiter threads ------------------------------------------
//
// Every async futex wait (futex.wait, rings, typed queues, Mutex) is served
// by a small set of threads, each asleep in one futex_waitv(2) on the words
// of up to kWordsPerThread waits plus an interrupt word of its own. Adding or
// cancelling a wait bumps that word and signals the thread (Poke), so the
// thread rebuilds its list at once.
// futex_waitv returns the index of one woken word; if several were woken
// together the others look like a spurious return, so after every return
// each wait is checked again (futex semantics: 'ok' when woken or when its
// word no longer holds the expected value).

constexpr long kSysFutexWaitv = 449;  // the same number on every architecture
constexpr uint32_t kFutex2SizeU32 = 0x02;
constexpr uint32_t kFutex2Private = 128;
// futex_waitv takes at most 128 words: the waits' and the interrupt word.
constexpr size_t kWordsPerThread = 127;

struct WaitvEntry {
  uint64_t value;
  uint64_t address;
  uint32_t flags;
  uint32_t reserved;
};

}  // namespace

// One shared waiter thread's state. Never freed (a cancellation may bump the
// interrupt word of a thread that has just ended): their number only grows
// to the largest number of threads needed at once.
struct FutexThread {
  std::vector<Wait*> waits;                    // under FutexWaiters' mutex
  std::unordered_map<int32_t*, size_t> words;  // how many of `waits` sleep on each word
  std::atomic<int32_t> interrupt{0};
  std::condition_variable work;  // an idle thread waits here for waits
  bool alive = false;            // a thread runs for it: `handle` is valid
  bool inWaitv = false;          // it sleeps (or is about to) in futex_waitv; under the mutex
  pthread_t handle{};
};

namespace {

long FutexWakeShared(int32_t* word, int count) {
  return syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

class FutexWaiters {
 public:
  // Leaked on purpose: detached threads may outlive static destructors.
  static FutexWaiters& Get() {
    static FutexWaiters* waiters = new FutexWaiters();
    return *waiters;
  }

  // Whether futex_waitv works here (Linux >= 5.16, not refused by a seccomp
  // filter): an empty call fails with EINVAL where it exists. Asked once.
  // SHMKIT_NO_FUTEX_WAITV=1 takes the fallback, for its tests.
  static bool Available() {
    static const bool available = [] {
      const char* off = std::getenv("SHMKIT_NO_FUTEX_WAITV");
      if (off != nullptr && *off != '\0' && std::string(off) != "0") return false;
      long ret = syscall(kSysFutexWaitv, nullptr, 0, 0, nullptr, CLOCK_MONOTONIC);
      return ret < 0 && errno == EINVAL;
    }();
    return available;
  }

  // Hands `wait` to a thread. Returns 0 or the errno of a failed pthread_create.
  int Add(Wait* wait) {
    FutexThread* thread;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      thread = Place(wait->word);
      if (!thread->alive) {
        int err = SpawnThread(&FutexWaiters::ThreadMain, thread, &thread->handle);
        if (err != 0) return err;
        thread->alive = true;
      }
      // The first look, on the caller's thread: a word that holds `expected`
      // now and changes later means 'ok', however late the thread looks.
      wait->looked = __atomic_load_n(wait->word, __ATOMIC_SEQ_CST) == wait->expected;
      thread->waits.push_back(wait);
      thread->words[wait->word]++;
      pending_++;
      wait->futexThread = thread;
      Poke(thread);
    }
    // Notified after the unlock: a thread woken while we still held the lock
    // would run (on a busy machine, in our place on this CPU) only to block
    // on it again. FutexThreads are never freed, so `thread` stays valid.
    thread->work.notify_one();
    return 0;
  }

  // Makes the wait's thread look at its waits again (one was cancelled).
  void Interrupt(Wait* wait) {
    std::lock_guard<std::mutex> lock(mutex_);
    Poke(wait->futexThread);
  }

 private:
  // Under mutex_. The interrupt word's new value makes a futex_waitv about
  // to start fail at once (EAGAIN); one already asleep is ended by a signal
  // (EINTR), never by a FUTEX_WAKE of that word: futex_waitv reports one
  // woken index only, and a wake of the interrupt word could hide the wake of
  // a caller's word that came at the same moment. A signal hides none: the
  // kernel reports a woken word before a pending signal. The thread is alive
  // while we hold the lock (it ends only under it), so `handle` is valid.
  // A thread that is not in (or on its way into) futex_waitv holds the lock
  // or waits on its condition variable: it reads the interrupt word before
  // it sleeps again, so it needs no signal — the common case of a park after
  // the last one was delivered, where the signal was a syscall and a handler
  // run on every park.
  static void Poke(FutexThread* thread) {
    thread->interrupt.fetch_add(1);
    if (!thread->inWaitv) return;
    if (thread->alive && InterruptThread(thread->handle) == 0) return;
    syscall(SYS_futex, &thread->interrupt, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }

  // Where a new wait on `word` goes, so that the threads stay at most
  // 1 + ceil(pending / kWordsPerThread): a running thread with room that
  // does not sleep on `word` yet; else a new thread, while that bound allows;
  // else a thread with room that already sleeps on `word` (the two waits then
  // share one kernel sleep: a FUTEX_WAKE of it resolves both).
  FutexThread* Place(int32_t* word) {
    FutexThread* shared = nullptr;
    FutexThread* spare = nullptr;
    size_t alive = 0;
    for (auto& thread : threads_) {
      if (!thread->alive) {
        if (spare == nullptr) spare = thread.get();
        continue;
      }
      alive++;
      if (thread->waits.size() >= kWordsPerThread) continue;
      if (thread->words.count(word) == 0) return thread.get();
      if (shared == nullptr) shared = thread.get();
    }
    size_t bound = 1 + (pending_ + 1 + kWordsPerThread - 1) / kWordsPerThread;
    if (shared != nullptr && alive >= bound) return shared;
    if (spare != nullptr) return spare;
    threads_.push_back(std::make_unique<FutexThread>());
    return threads_.back().get();
  }

  static void* ThreadMain(void* arg) {
    // Poke's signal must reach us, whatever mask our creator had.
    sigset_t interrupt;
    sigemptyset(&interrupt);
    sigaddset(&interrupt, InterruptSignal());
    pthread_sigmask(SIG_UNBLOCK, &interrupt, nullptr);
    Get().Loop(static_cast<FutexThread*>(arg));
    return nullptr;
  }

  // Under mutex_: whether `wait` is finished, and how (`*result`).
  static bool Finished(Wait* wait, int64_t now, WaitResult* result) {
    if (wait->woken) {
      if (!wait->cancelled.load()) {
        *result = WaitResult::kOk;
        return true;
      }
      FutexWakeShared(wait->word, 1);  // the wake-up we took was meant for someone else
      *result = WaitResult::kCancelled;
      return true;
    }
    if (wait->failed != 0) {
      wait->job->error = wait->failed;
      wait->job->syscall = "futex_waitv";
      *result = WaitResult::kError;
      return true;
    }
    if (wait->cancelled.load()) {
      // A wake hidden behind the one futex_waitv reported may have been meant
      // for it: pass it on (a spurious wake at worst, which futex users expect).
      if (wait->mayBeWoken) FutexWakeShared(wait->word, 1);
      *result = WaitResult::kCancelled;
      return true;
    }
    // Only the first look can say "not-equal"; a change seen later means a
    // waker changed the word while we were between sleeps.
    if (__atomic_load_n(wait->word, __ATOMIC_SEQ_CST) != wait->expected) {
      *result = wait->looked ? WaitResult::kOk : WaitResult::kNotEqual;
      return true;
    }
    wait->looked = true;
    if (now >= wait->deadlineNs) {
      *result = WaitResult::kTimedOut;
      return true;
    }
    return false;
  }

  // Under mutex_: takes the finished waits out of `thread` into `done`.
  void Collect(FutexThread* thread, std::vector<std::pair<Wait*, WaitResult>>* done) {
    int64_t now = MonotonicNowNs();
    size_t kept = 0;
    for (Wait* wait : thread->waits) {
      WaitResult result;
      if (!Finished(wait, now, &result)) {
        thread->waits[kept++] = wait;
        continue;
      }
      done->emplace_back(wait, result);
      if (--thread->words[wait->word] == 0) thread->words.erase(wait->word);
      pending_--;
    }
    thread->waits.resize(kept);
  }

  void Loop(FutexThread* thread) {
    std::vector<std::pair<Wait*, WaitResult>> done;
    std::vector<WaitvEntry> entries;
    std::vector<size_t> entryOf;  // waits[i] sleeps on entries[entryOf[i]]
    std::unordered_map<int32_t*, size_t> entryOfWord;
    std::vector<Wait*> sleeping;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      if (thread->waits.empty() && !thread->work.wait_for(lock, std::chrono::seconds(10), [thread] {
            return !thread->waits.empty();
          })) {
        thread->alive = false;  // idle for 10 s: let the thread go
        return;
      }
      // Read before the checks: a wait added or cancelled after them bumps
      // it, and futex_waitv then returns at once.
      int32_t seen = thread->interrupt.load();
      done.clear();
      Collect(thread, &done);
      if (!done.empty()) {
        lock.unlock();
        for (auto& [wait, result] : done) Deliver(wait, result);
        lock.lock();
        continue;
      }
      // One entry per distinct word; the deadline is the earliest one.
      entries.clear();
      entryOf.clear();
      entryOfWord.clear();
      int64_t deadline = kForever;
      for (Wait* wait : thread->waits) {
        auto [it, added] = entryOfWord.emplace(wait->word, entries.size());
        if (added) {
          entries.push_back({static_cast<uint32_t>(wait->expected),
                             reinterpret_cast<uintptr_t>(wait->word), kFutex2SizeU32, 0});
        }
        entryOf.push_back(it->second);
        wait->mayBeWoken = false;
        deadline = std::min(deadline, wait->deadlineNs);
      }
      entries.push_back({static_cast<uint32_t>(seen),
                         reinterpret_cast<uintptr_t>(&thread->interrupt),
                         kFutex2SizeU32 | kFutex2Private, 0});
      // Only this thread removes waits from its list: the Wait objects stay
      // valid while it sleeps without the lock.
      sleeping = thread->waits;
      thread->inWaitv = true;
      lock.unlock();
      timespec until = ToTimespec(deadline);
      long woke = syscall(kSysFutexWaitv, entries.data(), entries.size(), 0,
                          deadline == kForever ? nullptr : &until, CLOCK_MONOTONIC);
      int err = woke < 0 ? errno : 0;
      lock.lock();
      thread->inWaitv = false;
      if (woke >= 0) {  // a word was woken (the interrupt word only if the signal failed)
        for (size_t i = 0; i < sleeping.size(); i++) {
          if (entryOf[i] == static_cast<size_t>(woke)) {
            sleeping[i]->woken = true;
          } else {
            sleeping[i]->mayBeWoken = true;
          }
        }
      } else if (err != 0 && err != EAGAIN && err != ETIMEDOUT && err != EINTR) {
        // Cannot happen with valid words (mappings stay mapped while waited
        // on); should it, fail the waits rather than spin.
        for (Wait* wait : sleeping) wait->failed = err;
      }
    }
  }

  std::mutex mutex_;
  std::vector<std::unique_ptr<FutexThread>> threads_;
  size_t pending_ = 0;  // waits on all threads
};
#endif  // __linux__

// Wakes the sleep of a wait whose `cancelled` just turned true.
void InterruptWait(Wait* wait) {
  if (wait->polled) {
    InterruptPollWaits();
    return;
  }
#ifdef __linux__
  if (wait->futexThread != nullptr) {
    FutexWaiters::Get().Interrupt(wait);
    return;
  }
#endif
  wait->job->Interrupt();
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
  InterruptWait(wait);
  // Already succeeded, result not yet delivered: hand back what it took now,
  // so the very next tryWait() finds it.
  if (wait->finished.load(std::memory_order_acquire) && wait->result == WaitResult::kOk) {
    wait->job->Undo();
    wait->undone = true;
  }
  if (wait->ref) Unref(env, state);
  return Napi::Boolean::New(env, true);
}

// Hands a new wait to the poll thread if it waits on a descriptor, to a
// shared futex waiter thread if it is a plain futex wait and futex_waitv
// works, else to the blocking pool. Returns 0,
// kPoolFull, or the errno of a failed pthread_create.
int Schedule(Wait* wait) {
  if (wait->job->PollFd(&wait->pollFd, &wait->pollEvents)) return AddPollWait(wait);
#ifdef __linux__
  if (FutexWaiters::Available() && wait->job->FutexWord(&wait->word, &wait->expected)) {
    return FutexWaiters::Get().Add(wait);
  }
#endif
  return WaiterPool::Get().Submit([wait] { RunOnThread(wait); });
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
    InterruptWait(wait);
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
  int err = Schedule(wait);
  if (err != 0) {
    {
      std::lock_guard<std::mutex> lock(state->delivery->mutex);
      state->delivery->running--;
    }
    DeleteRefs(env, wait);
    delete wait;
    if (err == kPoolFull) {
      throw CodedError(env, "ERR_SHMKIT_TOO_MANY_WAITS",
                       "too many pending blocking waits: at most " +
                           std::to_string(MaxBlockingWaiters()) +
                           " (SHMKIT_MAX_BLOCKING_WAITERS) may hold a waiter thread at once");
    }
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
