#include "primitives/pidfd.h"

#if defined(__linux__)
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>

#include "core/addon.h"
#include "core/deadline.h"
#include "core/errors.h"
#include "core/handle.h"
#include "core/waiter.h"
#endif

namespace shmkit {

#if defined(__linux__)
namespace {

#ifndef SYS_pidfd_open
constexpr long SYS_pidfd_open = 434;  // the same number on every architecture
#endif

// One pidfd; closed once the handle and every pending wait let go of it.
struct PidfdCore {
  int fd = -1;
  std::string subject;  // "pid N", for error messages
  ~PidfdCore() {
    if (fd != -1) close(fd);
  }
};

// Whether the process has exited: poll(2) of the pidfd until `deadlineNs`
// (CLOCK_MONOTONIC; 0: one look). 1 exited, 0 not yet, -errno on failure.
int PollExit(int fd, int64_t deadlineNs) {
  for (;;) {
    int64_t left =
        deadlineNs == kForever ? -1 : std::max<int64_t>(0, deadlineNs - MonotonicNowNs());
    timespec ts = ToTimespec(left < 0 ? 0 : left);
    pollfd pfd{fd, POLLIN, 0};
    int ready = ppoll(&pfd, 1, left < 0 ? nullptr : &ts, nullptr);
    if (ready > 0) return (pfd.revents & POLLNVAL) ? -EBADF : 1;
    if (ready == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

// An async wait for the exit: shares the poll thread (WaitJob::PollFd).
class ExitJob : public WaitJob {
 public:
  explicit ExitJob(std::shared_ptr<PidfdCore> core) : core_(std::move(core)) {
    subject = core_->subject;
  }

  WaitResult Run(int64_t deadlineNs, const std::atomic<bool>& cancelled) override {
    while (!cancelled.load()) {
      int64_t slice = std::min(deadlineNs, MonotonicNowNs() + kSliceNs);
      int exited = PollExit(core_->fd, slice);
      if (exited < 0) {
        error = -exited;
        syscall = "poll";
        return WaitResult::kError;
      }
      if (exited == 1) return WaitResult::kOk;
      if (MonotonicNowNs() >= deadlineNs) return WaitResult::kTimedOut;
    }
    return WaitResult::kCancelled;
  }

  bool PollFd(int* fd, int16_t* events) const override {
    *fd = core_->fd;
    *events = POLLIN;
    return true;
  }

 private:
  std::shared_ptr<PidfdCore> core_;
};

class PidfdHandle : public CoreHandle<PidfdHandle, PidfdCore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PidfdHandle",
                       {
                           InstanceMethod<&PidfdHandle::Exited>("exited"),
                           InstanceMethod<&PidfdHandle::WaitAsync>("waitAsync"),
                           CloseMethod(),
                       });
  }

  // new PidfdHandle(pid): pidfd_open(pid, 0). ESRCH: no such process (or a
  // zombie already reaped); ENOSYS before Linux 5.3.
  explicit PidfdHandle(const Napi::CallbackInfo& info) : CoreHandle(info, "process descriptor") {
    Napi::Env env = info.Env();
    double pid = RequireNumber(info[0], "pid");
    if (pid < 1 || pid > 4194304 || pid != static_cast<double>(static_cast<int>(pid))) {
      throw ArgRangeError(env, "pid must be an integer in [1, 4194304]");
    }
    auto core = std::make_shared<PidfdCore>();
    core->subject = "pid " + std::to_string(static_cast<int>(pid));
    core->fd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
    if (core->fd == -1) throw ErrnoError(env, errno, "pidfd_open", core->subject);
    Adopt(info, std::move(core), false);
  }

 private:
  // exited() -> whether the process has terminated (a zombie counts).
  Napi::Value Exited(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = Core(env);
    int exited = PollExit(core->fd, 0);
    if (exited < 0) throw ErrnoError(env, -exited, "poll", core->subject);
    return Napi::Boolean::New(env, exited == 1);
  }

  // waitAsync(timeoutMs, ref, callback) -> waitId: 'ok' once the process exits.
  Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    AsyncArgs args = RequireAsyncArgs(info, 0);
    return StartWait(env, std::make_unique<ExitJob>(Core(env)), args, env.Undefined());
  }
};

}  // namespace
#endif  // __linux__

void InitPidfd([[maybe_unused]] Napi::Env env, [[maybe_unused]] Napi::Object exports) {
#if defined(__linux__)
  Napi::Object group = ExportGroup(env, exports, "pidfd", {});
  group.Set("Handle", PidfdHandle::Define(env));
#endif
}

}  // namespace shmkit
