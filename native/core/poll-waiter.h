// The poll thread: one thread per process that waits, in one ppoll(2), for
// every pending async readiness wait (WaitJob::PollFd: POSIX message queue
// descriptors). However many such waits are pending, they hold one thread
// and no slot of the blocking pool.
//
// Why a thread of our own and not libuv's poll on Node's loop: Node-API
// exposes the loop (napi_get_uv_event_loop) but not libuv's headers or a
// stable ABI promise for them, and shmkit's binary must build from
// node-api-headers alone (offline builds, prebuilds for every Node >= 20).
// One thread for all of them bounds the cost just as well.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/wait-internal.h"

namespace shmkit {

// Polls `fd` for `events` until `deadlineNs` (CLOCK_MONOTONIC; kForever:
// no deadline; 0: one look), in kSliceNs slices when `cancelled` is given so
// that a cancellation is seen promptly. Returns 1 when ready, 0 on timeout or
// cancellation, -errno on failure (-EBADF for a descriptor poll calls invalid).
int PollFdUntil(int fd, int16_t events, int64_t deadlineNs, const std::atomic<bool>* cancelled);

// A wait for a pollable descriptor to be ready: async waits share the poll
// thread (PollFd), sync ones poll on the caller's thread (Run). Whoever
// derives keeps the descriptor open while the job lives.
class PollJob : public WaitJob {
 public:
  PollJob(int fd, int16_t events, std::string what) : fd_(fd), events_(events) {
    subject = std::move(what);
  }

  WaitResult Run(int64_t deadlineNs, const std::atomic<bool>& cancelled) override;

  bool PollFd(int* fd, int16_t* events) const override {
    *fd = fd_;
    *events = events_;
    return true;
  }

 private:
  int fd_;
  int16_t events_;
};

// Hands `wait` (wait->pollFd, wait->pollEvents set) to the poll thread,
// starting it if needed. Returns 0 or an errno (eventfd, pthread_create).
int AddPollWait(Wait* wait);

// Makes the poll thread look at its waits again (one was cancelled).
void InterruptPollWaits();

}  // namespace shmkit
