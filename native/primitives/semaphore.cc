#include "primitives/semaphore.h"

#include <fcntl.h>
#include <semaphore.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>

#include "core/deadline.h"
#include "core/errors.h"
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

class SemaphoreHandle : public Napi::ObjectWrap<SemaphoreHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SemaphoreHandle",
                       {
                           InstanceMethod<&SemaphoreHandle::Post>("post"),
                           InstanceMethod<&SemaphoreHandle::TryWait>("tryWait"),
                           InstanceMethod<&SemaphoreHandle::WaitSync>("waitSync"),
                           InstanceMethod<&SemaphoreHandle::WaitAsync>("waitAsync"),
                           InstanceMethod<&SemaphoreHandle::GetValue>("value"),
                           InstanceMethod<&SemaphoreHandle::Close>("close"),
                       });
  }

  // new SemaphoreHandle(name, openMode, mode, value)
  explicit SemaphoreHandle(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<SemaphoreHandle>(info) {
    Napi::Env env = info.Env();
    std::string name = RequireString(info[0], "name");
    OpenMode openMode = ParseOpenMode(info[1]);
    auto mode = static_cast<mode_t>(RequireNumber(info[2], "mode"));
    auto value = static_cast<unsigned>(RequireNumber(info[3], "value"));
    sem_t* sem = SEM_FAILED;
    if (openMode != OpenMode::kOpen) {
      sem = sem_open(name.c_str(), O_CREAT | O_EXCL, mode, value);
      created_ = sem != SEM_FAILED;
    }
    bool mayOpen = openMode == OpenMode::kOpen ||
                   (openMode == OpenMode::kOpenOrCreate && sem == SEM_FAILED && errno == EEXIST);
    if (mayOpen) sem = sem_open(name.c_str(), 0);
    if (sem == SEM_FAILED) throw ErrnoError(env, errno, "sem_open", name);
    core_ = std::make_shared<SemCore>();
    core_->sem = sem;
    core_->name = name;
    info.This().As<Napi::Object>().Set("created", Napi::Boolean::New(env, created_));
  }

 private:
  std::shared_ptr<SemCore> Core(Napi::Env env) {
    if (!core_) throw Napi::Error::New(env, "semaphore is closed");
    return core_;
  }

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
    double timeoutMs = RequireNumber(info[0], "timeoutMs");
    bool ref = info[1].ToBoolean();
    if (!info[2].IsFunction()) throw Napi::TypeError::New(env, "callback must be a function");
    auto job = std::make_unique<SemWaitJob>(Core(env));
    uint32_t id = StartWait(env, std::move(job), timeoutMs, info[2].As<Napi::Function>(),
                            env.Undefined(), ref);
    return Napi::Number::New(env, id);
  }

  Napi::Value GetValue(const Napi::CallbackInfo& info) {
    auto core = Core(info.Env());
    int value = 0;
    if (sem_getvalue(core->sem, &value) != 0) {
      throw ErrnoError(info.Env(), errno, "sem_getvalue", core->name);
    }
    return Napi::Number::New(info.Env(), std::max(value, 0));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    core_.reset();  // sem_close runs once the last pending wait lets go
    return info.Env().Undefined();
  }

  std::shared_ptr<SemCore> core_;
  bool created_ = false;
};

Napi::Value SemUnlink(const Napi::CallbackInfo& info) {
  std::string name = RequireString(info[0], "name");
  if (sem_unlink(name.c_str()) != 0) throw ErrnoError(info.Env(), errno, "sem_unlink", name);
  return info.Env().Undefined();
}

}  // namespace

void InitSemaphore(Napi::Env env, Napi::Object exports) {
  exports.Set("SemaphoreHandle", SemaphoreHandle::Define(env));
  exports.Set("semUnlink", Napi::Function::New(env, SemUnlink, "semUnlink"));
}

}  // namespace shmkit
