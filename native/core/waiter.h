// shmkit's waiter machinery: every async wait runs on threads of our own
// (never libuv's threadpool) and resolves on the loop through one
// thread-safe function per environment. Futex waits share a few threads,
// 127 words each (futex_waitv); readiness waits on descriptors (POSIX
// message queues) share one poll thread; blocking calls take one thread each
// from a bounded pool.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace shmkit {

enum class WaitResult { kOk, kNotEqual, kTimedOut, kCancelled, kError };

const char* WaitResultName(WaitResult result);

// One blocking wait. Run() is called on a waiter thread (async) or on the JS
// thread (sync); it must return promptly once `cancelled` becomes true, and a
// cancelled wait that consumed a wake-up or a unit must hand it back.
class WaitJob {
 public:
  virtual ~WaitJob() = default;
  virtual WaitResult Run(int64_t deadlineNs, const std::atomic<bool>& cancelled) = 0;
  // Called on the JS thread right after `cancelled` turns true, while Run may
  // be sleeping: a job that can wake its own sleep at once does so here.
  virtual void Interrupt() {}
  // Called on the JS thread when a wait that succeeded (kOk) was cancelled
  // before its result was delivered: give back what it took.
  virtual void Undo() {}
  // A plain futex wait (sleep while *word == expected) says so here: its
  // async wait then shares a futex waiter thread with up to 126 others
  // (futex_waitv) instead of calling Run on a thread of its own; Run still
  // serves sync waits and kernels without futex_waitv.
  virtual bool FutexWord(int32_t** /*word*/, int32_t* /*expected*/) const { return false; }
  // A readiness wait on a pollable descriptor (poll(2) `events` on `fd`, which
  // must stay open until the wait ends) says so here: its async wait then
  // shares shmkit's one poll thread with every other such wait, and takes
  // nothing from the blocking pool; Run still serves sync waits.
  virtual bool PollFd(int* /*fd*/, int16_t* /*events*/) const { return false; }
  int error = 0;                  // errno when Run returns kError
  const char* syscall = nullptr;  // the call that failed
  std::string subject;            // the object's name, for error messages
};

// Longest single kernel sleep of an async wait: bounds how long a cancelled
// wait keeps its thread (cancellation itself is immediate on the JS side).
constexpr int64_t kSliceNs = 100 * 1000000LL;

// What every async binding takes last: (timeoutMs, ref, callback).
struct AsyncArgs {
  double timeoutMs;
  bool ref;  // a ref'd wait keeps the loop alive
  Napi::Function callback;
};

// Reads AsyncArgs from info[first], info[first + 1], info[first + 2].
AsyncArgs RequireAsyncArgs(const Napi::CallbackInfo& info, size_t first);

// Starts `job` on a waiter thread: a shared futex waiter thread for a futex
// word (WaitJob::FutexWord), the poll thread for a descriptor
// (WaitJob::PollFd), else a thread of the bounded blocking pool (at
// most SHMKIT_MAX_BLOCKING_WAITERS, default 256, such waits pending at once
// in the process; one more throws ERR_SHMKIT_TOO_MANY_WAITS).
// `args.callback(error, resultName)` is called on the JS thread unless the
// wait is cancelled first. `keepAlive` (may be undefined) is referenced until
// the wait ends. Returns the wait id for waiter.cancel, as a JS number.
Napi::Value StartWait(Napi::Env env, std::unique_ptr<WaitJob> job, const AsyncArgs& args,
                      Napi::Value keepAlive);

struct Wait;      // one pending wait (waiter.cc)
struct Delivery;  // what waiter threads share with the environment (waiter.cc)

// The waiter machinery of one environment: a member of its AddonData.
struct WaiterEnv {
  std::shared_ptr<Delivery> delivery;
  std::unordered_map<uint32_t, Wait*> waits;
  uint32_t nextId = 1;
  uint32_t refs = 0;
};

// Sets up the waiter machinery of one environment (its AddonData must exist)
// and exports binding.waiter; call once in Init.
void InitWaiter(Napi::Env env, Napi::Object exports);

// Runs a job synchronously on this thread and throws its error, if any.
WaitResult RunSync(Napi::Env env, WaitJob& job, double timeoutMs);

}  // namespace shmkit
