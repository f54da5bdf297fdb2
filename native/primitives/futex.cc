#include "primitives/futex.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <memory>

#include "core/addon.h"
#include "core/deadline.h"
#include "core/errors.h"
#include "core/waiter.h"
#include "primitives/shm.h"

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace shmkit {

namespace {

#ifdef __linux__
// Shared (not FUTEX_PRIVATE_FLAG) so waiters in other processes are found.
long FutexWaitUntil(int32_t* word, int32_t expected, int64_t deadlineNs) {
  timespec until = ToTimespec(deadlineNs);
  return syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, &until, nullptr,
                 FUTEX_BITSET_MATCH_ANY);
}

long FutexWake(int32_t* word, int count) {
  return syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

// futex_waitv(2) (Linux >= 5.16) lets one sleep end on either of two words:
// the caller's, or a private word of the wait that cancellation sets. Without
// it, an async wait sleeps in slices and re-checks for cancellation between them.
constexpr unsigned kFutex2SizeU32 = 0x02;
constexpr unsigned kFutex2Private = 128;
constexpr long kSysFutexWaitv = 449;
std::atomic<bool> haveWaitv{true};

struct WaitvEntry {
  uint64_t value;
  uint64_t address;
  uint32_t flags;
  uint32_t reserved;
};

// Returns the index of the word that woke us (0 or 1), or -1 with errno.
long FutexWaitTwo(int32_t* word, int32_t expected, std::atomic<int32_t>* interrupt,
                  int64_t deadlineNs) {
  WaitvEntry entries[2] = {
      {static_cast<uint32_t>(expected), reinterpret_cast<uintptr_t>(word), kFutex2SizeU32, 0},
      {0, reinterpret_cast<uintptr_t>(interrupt), kFutex2SizeU32 | kFutex2Private, 0},
  };
  timespec until = ToTimespec(deadlineNs);
  return syscall(kSysFutexWaitv, entries, 2, 0, deadlineNs == kForever ? nullptr : &until,
                 CLOCK_MONOTONIC);
}

class FutexWaitJob : public WaitJob {
 public:
  FutexWaitJob(int32_t* word, int32_t expected, std::shared_ptr<MappingCore> mapping)
      : word_(word), expected_(expected), mapping_(std::move(mapping)) {
    subject = "futex";
  }

  void Undo() override { FutexWake(word_, 1); }  // pass the wake on

  // Async waits share a futex waiter thread (core/waiter.cc); Run below
  // serves sync waits and kernels without futex_waitv.
  bool FutexWord(int32_t** word, int32_t* expected) const override {
    *word = word_;
    *expected = expected_;
    return true;
  }

  void Interrupt() override {
    interrupt_.store(1);
    ::syscall(SYS_futex, &interrupt_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }

  WaitResult Run(int64_t deadlineNs, const std::atomic<bool>& cancelled) override {
    // Only the first look can say "not-equal"; a change seen later means a
    // waker changed the word while we were between sleeps.
    WaitResult changed = WaitResult::kNotEqual;
    for (;;) {
      if (cancelled.load()) return WaitResult::kCancelled;
      if (__atomic_load_n(word_, __ATOMIC_SEQ_CST) != expected_) return changed;
      int64_t now = MonotonicNowNs();
      if (now >= deadlineNs) return WaitResult::kTimedOut;
      long woke = Sleep(deadlineNs, now);
      int err = woke < 0 ? errno : 0;
      if (woke == 0) {
        if (!cancelled.load()) return WaitResult::kOk;
        FutexWake(word_, 1);  // the wake-up we took was meant for someone else
        return WaitResult::kCancelled;
      }
      if (err != 0 && err != EAGAIN && err != ETIMEDOUT && err != EINTR) {
        error = err;
        syscall = "futex";
        return WaitResult::kError;
      }
      changed = WaitResult::kOk;
    }
  }

 private:
  // One sleep: on both words with futex_waitv, else a slice on ours alone.
  // Returns 0 when our word was woken, 1 when the interrupt word was, -1 with errno.
  long Sleep(int64_t deadlineNs, int64_t now) {
    if (haveWaitv.load(std::memory_order_relaxed)) {
      long woke = FutexWaitTwo(word_, expected_, &interrupt_, deadlineNs);
      if (woke >= 0 || errno != ENOSYS) return woke;
      haveWaitv.store(false);
    }
    return FutexWaitUntil(word_, expected_, std::min(deadlineNs, now + kSliceNs));
  }

  int32_t* word_;
  int32_t expected_;
  std::atomic<int32_t> interrupt_{0};
  std::shared_ptr<MappingCore> mapping_;  // keeps the word mapped while we sleep
};
#endif

struct Target {
  int32_t* word;
  std::shared_ptr<MappingCore> mapping;  // null for a SharedArrayBuffer
  Napi::Value buffer;
};

// Checks (view, index) and finds the memory behind it. The view must be an
// Int32Array over a shmkit mapping or a SharedArrayBuffer.
Target ResolveTarget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw ArgTypeError(env, "view must be an Int32Array");
  }
  auto view = info[0].As<Napi::Int32Array>();
  double index = RequireNumber(info[1], "index");
  if (index < 0 || index >= static_cast<double>(view.ElementLength()) ||
      index != static_cast<double>(static_cast<size_t>(index))) {
    throw ArgRangeError(env, "index must be an integer in [0, view.length)");
  }
  int32_t* word = view.Data() + static_cast<size_t>(index);
  Target target{word, FindMapping(word, sizeof(int32_t)), view.ArrayBuffer()};
  napi_value raw = view.ArrayBuffer();
  bool isPlainArrayBuffer = false;
  napi_is_arraybuffer(env, raw, &isPlainArrayBuffer);
  if (!target.mapping && isPlainArrayBuffer) {
    throw ArgTypeError(env, "view must be over a SharedMemory buffer or a SharedArrayBuffer");
  }
  return target;
}

#ifdef __linux__
int32_t RequireInt32(const Napi::Value& value, const char* what) {
  double number = RequireNumber(value, what);
  if (number < INT32_MIN || number > INT32_MAX || number != static_cast<int32_t>(number)) {
    throw ArgRangeError(value.Env(), std::string(what) + " must be a 32-bit integer");
  }
  return static_cast<int32_t>(number);
}

// futex.waitSync(view, index, expected, timeoutMs) -> 'ok'|'not-equal'|'timed-out'
Napi::Value WaitSync(const Napi::CallbackInfo& info) {
  Target target = ResolveTarget(info);
  FutexWaitJob job(target.word, RequireInt32(info[2], "expected"), target.mapping);
  WaitResult result = RunSync(info.Env(), job, RequireNumber(info[3], "timeoutMs"));
  return Napi::String::New(info.Env(), WaitResultName(result));
}

// futex.waitAsync(view, index, expected, timeoutMs, ref, callback) -> waitId
Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target target = ResolveTarget(info);
  int32_t expected = RequireInt32(info[2], "expected");
  AsyncArgs args = RequireAsyncArgs(info, 3);
  auto job = std::make_unique<FutexWaitJob>(target.word, expected, target.mapping);
  // A SharedArrayBuffer stays alive through the reference StartWait keeps.
  return StartWait(env, std::move(job), args, target.buffer);
}

// futex.wake(view, index, count) -> number of waiters woken
Napi::Value Wake(const Napi::CallbackInfo& info) {
  Target target = ResolveTarget(info);
  double count = RequireNumber(info[2], "count");
  int n = count >= INT_MAX ? INT_MAX : static_cast<int>(std::max(count, 0.0));
  long woken = FutexWake(target.word, n);
  if (woken < 0) throw ErrnoError(info.Env(), errno, "futex", "futex");
  return Napi::Number::New(info.Env(), static_cast<double>(woken));
}
#endif

}  // namespace

void InitFutex([[maybe_unused]] Napi::Env env, [[maybe_unused]] Napi::Object exports) {
#ifdef __linux__
  ExportGroup(env, exports, "futex",
              {{"waitSync", WaitSync}, {"waitAsync", WaitAsync}, {"wake", Wake}});
#else
  (void)ResolveTarget;
#endif
}

}  // namespace shmkit
