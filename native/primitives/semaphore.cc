#include "primitives/semaphore.h"

#include <fcntl.h>
#include <semaphore.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>

#include "core/addon.h"
#include "core/deadline.h"
#include "core/errors.h"
#include "core/handle.h"
#include "core/open_mode.h"
#include "core/waiter.h"

namespace shmkit {

namespace {

// The sem_t* of one sem_open; sem_close'd when the handle is closed and no
// wait still sleeps on it.
struct SemCore {
  sem_t* sem = SEM_FAILED;
  std::string name;
  ~SemCore() {
    if (sem != SEM_FAILED) sem_close(sem);
  }
};

// Sleeps until `deadlineNs` (CLOCK_MONOTONIC). Returns 0 or an errno.
int TimedWait(sem_t* sem, int64_t deadlineNs) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
  timespec until = ToTimespec(deadlineNs);
  return sem_clockwait(sem, CLOCK_MONOTONIC, &until) == 0 ? 0 : errno;
#else
  // sem_timedwait counts on CLOCK_REALTIME: convert for this one slice.
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t realNow = static_cast<int64_t>(now.tv_sec) * kNsPerSec + now.tv_nsec;
  timespec until = ToTimespec(realNow + (deadlineNs - MonotonicNowNs()));
  return sem_timedwait(sem, &until) == 0 ? 0 : errno;
#endif
}

class SemWaitJob : public WaitJob {
 public:
  explicit SemWaitJob(std::shared_ptr<SemCore> core) : core_(std::move(core)) {
    subject = core_->name;
  }

  void Undo() override { sem_post(core_->sem); }

  WaitResult Run(int64_t deadlineNs, const std::atomic<bool>& cancelled) override {
    for (;;) {
      if (cancelled.load()) return WaitResult::kCancelled;
      int64_t now = MonotonicNowNs();
      if (now >= deadlineNs) return TryOnce();
      int err = TimedWait(core_->sem, std::min(deadlineNs, now + kSliceNs));
      if (err == 0) {
        if (!cancelled.load()) return WaitResult::kOk;
        sem_post(core_->sem);  // nobody wants this unit any more: give it back
        return WaitResult::kCancelled;
      }
      if (err != ETIMEDOUT && err != EINTR) return Fail(err);
    }
  }

 private:
  WaitResult TryOnce() {
    if (sem_trywait(core_->sem) == 0) return WaitResult::kOk;
    return errno == EAGAIN ? WaitResult::kTimedOut : Fail(errno);
  }

  WaitResult Fail(int err) {
    error = err;
    syscall = "sem_timedwait";
    return WaitResult::kError;
  }

  std::shared_ptr<SemCore> core_;
};

// sem_close runs once the last pending wait lets go of the SemCore.
class SemaphoreHandle : public CoreHandle<SemaphoreHandle, SemCore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SemaphoreHandle",
                       {
                           InstanceMethod<&SemaphoreHandle::Post>("post"),
                           InstanceMethod<&SemaphoreHandle::TryWait>("tryWait"),
                           InstanceMethod<&SemaphoreHandle::WaitSync>("waitSync"),
                           InstanceMethod<&SemaphoreHandle::WaitAsync>("waitAsync"),
                           InstanceMethod<&SemaphoreHandle::GetValue>("value"),
                           CloseMethod(),
                       });
  }

  // new SemaphoreHandle(name, openMode, mode, value)
  explicit SemaphoreHandle(const Napi::CallbackInfo& info) : CoreHandle(info, "semaphore") {
    Napi::Env env = info.Env();
    OpenArgs args = RequireOpenArgs(info);
    auto value = static_cast<unsigned>(RequireNumber(info[3], "value"));
    const char* name = args.name.c_str();
    Opened<sem_t*> opened = OpenNamed(args.openMode, SEM_FAILED, [&](bool create) {
      return create ? sem_open(name, O_CREAT | O_EXCL, args.mode, value) : sem_open(name, 0);
    });
    if (opened.handle == SEM_FAILED) throw ErrnoError(env, errno, "sem_open", args.name);
    auto core = std::make_shared<SemCore>();
    core->sem = opened.handle;
    core->name = args.name;
    Adopt(info, std::move(core), opened.created);
  }

 private:
  Napi::Value Post(const Napi::CallbackInfo& info) {
    auto core = Core(info.Env());
    if (sem_post(core->sem) != 0) throw ErrnoError(info.Env(), errno, "sem_post", core->name);
    return info.Env().Undefined();
  }

  Napi::Value TryWait(const Napi::CallbackInfo& info) {
    auto core = Core(info.Env());
    for (;;) {
      if (sem_trywait(core->sem) == 0) return Napi::Boolean::New(info.Env(), true);
      if (errno == EAGAIN) return Napi::Boolean::New(info.Env(), false);
      if (errno != EINTR) throw ErrnoError(info.Env(), errno, "sem_trywait", core->name);
    }
  }

  // waitSync(timeoutMs) -> 'ok' | 'timed-out'
  Napi::Value WaitSync(const Napi::CallbackInfo& info) {
    double timeoutMs = RequireNumber(info[0], "timeoutMs");
    SemWaitJob job(Core(info.Env()));
    return Napi::String::New(info.Env(), WaitResultName(RunSync(info.Env(), job, timeoutMs)));
  }

  // waitAsync(timeoutMs, ref, callback(err, 'ok' | 'timed-out')) -> waitId
  Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    AsyncArgs args = RequireAsyncArgs(info, 0);
    return StartWait(env, std::make_unique<SemWaitJob>(Core(env)), args, env.Undefined());
  }

  Napi::Value GetValue(const Napi::CallbackInfo& info) {
    auto core = Core(info.Env());
    int value = 0;
    if (sem_getvalue(core->sem, &value) != 0) {
      throw ErrnoError(info.Env(), errno, "sem_getvalue", core->name);
    }
    return Napi::Number::New(info.Env(), std::max(value, 0));
  }
};

Napi::Value SemUnlink(const Napi::CallbackInfo& info) {
  return UnlinkNamed(info, sem_unlink, "sem_unlink");
}

}  // namespace

void InitSemaphore(Napi::Env env, Napi::Object exports) {
  Napi::Object group = ExportGroup(env, exports, "semaphore", {{"unlink", SemUnlink}});
  group.Set("Handle", SemaphoreHandle::Define(env));
}

}  // namespace shmkit
