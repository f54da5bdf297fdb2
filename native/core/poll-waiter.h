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

#include "core/wait-internal.h"

namespace shmkit {

// Hands `wait` (wait->pollFd, wait->pollEvents set) to the poll thread,
// starting it if needed. Returns 0 or an errno (eventfd, pthread_create).
int AddPollWait(Wait* wait);

// Makes the poll thread look at its waits again (one was cancelled).
void InterruptPollWaits();

}  // namespace shmkit
