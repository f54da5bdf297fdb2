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
#include "core/poll-waiter.h"
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

// An async wait for the exit (a pidfd polls readable once its process has
// terminated); core_ keeps the descriptor open while it lasts.
class ExitJob : public PollJob {
 public:
  explicit ExitJob(std::shared_ptr<PidfdCore> core)
      : PollJob(core->fd, POLLIN, core->subject), core_(std::move(core)) {}

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
    int exited = PollFdUntil(core->fd, POLLIN, 0, nullptr);  // one look
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
