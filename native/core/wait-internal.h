// What the waiter machinery's parts share (waiter.cc, poll-waiter.cc): one
// pending wait, how its result reaches JS, and how its threads start. Not
// for primitives: they see only waiter.h.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/deadline.h"
#include "core/waiter.h"

namespace shmkit {

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

struct FutexThread;  // a shared futex waiter thread (below)

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
  // A futex wait on a shared futex waiter thread (FutexWaiters below); the
  // rest is touched only under FutexWaiters' mutex.
  FutexThread* futexThread = nullptr;
  int32_t* word = nullptr;
  int32_t expected = 0;
  bool looked = false;      // its word was seen equal once: a change now means "ok"
  bool woken = false;       // futex_waitv said a FUTEX_WAKE took this wait's sleep
  bool mayBeWoken = false;  // it reported another word: this one may have been woken too
  int failed = 0;           // errno of a futex_waitv that failed for every word
  // A readiness wait on the shared poll thread (poll-waiter.cc); `ready` and
  // `failed` are then touched only under that thread's mutex.
  bool polled = false;
  int pollFd = -1;
  int16_t pollEvents = 0;
  bool ready = false;
};

// Hands a wait's result to the JS thread; called once per wait, on the
// thread that ran it.
void Deliver(Wait* wait, WaitResult result);

// Starts a detached thread with our small stack. Returns 0 or an errno.
int SpawnThread(void* (*main)(void*), void* arg, pthread_t* started = nullptr);

}  // namespace shmkit
