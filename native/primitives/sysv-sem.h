// System V semaphore sets: semget(2), semop(2)/semtimedop(2), semctl(2).
// An async semop blocks in semtimedop on a thread of the capped blocking
// pool (core/waiter.h), in slices so that it sees its deadline and
// cancellation.
#pragma once

#include <napi.h>

namespace shmkit {

void InitSysvSem(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
