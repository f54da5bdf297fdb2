#include "core/interrupt.h"

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "core/deadline.h"
#include "core/waiter.h"

// glibc before 2.41 spells the SIGEV_THREAD_ID target this way only.
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

namespace shmkit {

namespace {

constexpr int kInterruptCookie = 0x73686d6b;  // "shmk": our timers' and cancellations' sival_int

struct sigaction gPreviousInterrupt;

void InterruptHandler(int signo, siginfo_t* info, void* context) {
  if (info != nullptr && info->si_value.sival_int == kInterruptCookie &&
      (info->si_code == SI_TIMER || (info->si_code == SI_QUEUE && info->si_pid == getpid()))) {
    return;  // a slice timer or a cancellation: its only job is the EINTR
  }
  // Somebody else's SIGRTMAX: behave as if we were not here.
  const struct sigaction& prev = gPreviousInterrupt;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction != nullptr) prev.sa_sigaction(signo, info, context);
  } else if (prev.sa_handler == SIG_DFL) {
    signal(signo, SIG_DFL);  // default action of a real-time signal: terminate
    raise(signo);
  } else if (prev.sa_handler != SIG_IGN && prev.sa_handler != nullptr) {
    prev.sa_handler(signo);
  }
}

// Installs the handler once per process. Returns 0 or an errno.
int InstallInterruptHandler() {
  static std::once_flag once;
  static int result = 0;
  std::call_once(once, [] {
    struct sigaction action;
    std::memset(&action, 0, sizeof(action));
    action.sa_sigaction = InterruptHandler;
    action.sa_flags = SA_SIGINFO;  // no SA_RESTART: the blocked call must fail with EINTR
    sigemptyset(&action.sa_mask);
    if (sigaction(InterruptSignal(), &action, &gPreviousInterrupt) != 0) result = errno;
  });
  return result;
}

}  // namespace

int InterruptSignal() { return SIGRTMAX; }

int InterruptThread(pthread_t thread) {
  int err = InstallInterruptHandler();
  if (err != 0) return err;
  sigval value;
  value.sival_int = kInterruptCookie;
  return pthread_sigqueue(thread, InterruptSignal(), value);
}

int SliceTimer::Start() {
  int err = InstallInterruptHandler();
  if (err != 0) return err;
  sigevent event;
  std::memset(&event, 0, sizeof(event));
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = InterruptSignal();
  event.sigev_value.sival_int = kInterruptCookie;
  event.sigev_notify_thread_id = static_cast<pid_t>(syscall(SYS_gettid));
  if (timer_create(CLOCK_MONOTONIC, &event, &timer_) != 0) return errno;
  armed_ = true;
  return 0;
}

void SliceTimer::Arm(int64_t deadlineNs) {
  int64_t first = std::min(deadlineNs - MonotonicNowNs(), kSliceNs);
  itimerspec spec;
  spec.it_value = ToTimespec(std::max<int64_t>(first, 1000));
  spec.it_interval = ToTimespec(kSliceNs);
  timer_settime(timer_, 0, &spec, nullptr);
}

SliceTimer::~SliceTimer() {
  if (armed_) timer_delete(timer_);
}

}  // namespace shmkit
#endif  // __linux__
