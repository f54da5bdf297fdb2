// Interrupting a thread blocked in a system call that cannot time out and
// ignores every cancellation flag (msgsnd(2), msgrcv(2)).
//
// The thread arms a thread-directed POSIX timer (SIGEV_THREAD_ID) that raises
// kInterruptSignal every kSliceNs (or at its deadline); the signal's handler
// does nothing and is installed without SA_RESTART, so the call fails with
// EINTR, the caller checks its deadline and cancellation, and blocks again.
// InterruptThread() raises the same signal at once, for a cancellation.
// Linux only.
#pragma once

#if defined(__linux__)
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <cstdint>

namespace shmkit {

// SIGRTMAX: lib/primitives/signals.ts refuses to listen to it.
int InterruptSignal();

// Makes `thread`'s current blocking call fail with EINTR (pthread_sigqueue
// with shmkit's cookie). Returns 0 or an errno.
int InterruptThread(pthread_t thread);

// A POSIX timer that interrupts the calling thread every kSliceNs.
class SliceTimer {
 public:
  SliceTimer() = default;
  SliceTimer(const SliceTimer&) = delete;
  SliceTimer& operator=(const SliceTimer&) = delete;
  ~SliceTimer();

  // Creates the timer for the calling thread; call Arm before each blocking
  // call. Returns 0 or an errno.
  int Start();

  // Fires at the deadline or after one slice, whichever is first, then every
  // slice (should a signal land before the call blocks).
  void Arm(int64_t deadlineNs);

 private:
  timer_t timer_{};
  bool armed_ = false;
};

}  // namespace shmkit
#endif  // __linux__
