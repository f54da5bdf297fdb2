// shmkit's waiter machinery: every async wait runs on a thread of our own
// pool (never libuv's threadpool) and resolves on the loop through one
// thread-safe function per environment.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

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
  int error = 0;                  // errno when Run returns kError
  const char* syscall = nullptr;  // the call that failed
  std::string subject;            // the object's name, for error messages
};

// Longest single kernel sleep of an async wait: bounds how long a cancelled
// wait keeps its thread (cancellation itself is immediate on the JS side).
constexpr int64_t kSliceNs = 100 * 1000000LL;

// Starts `job` on a waiter thread. `callback(error, resultName)` is called on
// the JS thread unless the wait is cancelled first. `keepAlive` (may be empty)
// is referenced until the wait ends. A `ref`'d wait keeps the loop alive.
// Returns the wait id for CancelWait.
uint32_t StartWait(Napi::Env env, std::unique_ptr<WaitJob> job, double timeoutMs,
                   Napi::Function callback, Napi::Value keepAlive, bool ref);

// Registers the waiter machinery of one environment; call once in Init.
void InitWaiter(Napi::Env env, Napi::Object exports);

// Runs a job synchronously on this thread and throws its error, if any.
WaitResult RunSync(Napi::Env env, WaitJob& job, double timeoutMs);

}  // namespace shmkit
