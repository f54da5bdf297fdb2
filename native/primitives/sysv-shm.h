// System V shared memory: shmget(2), shmat(2), shmctl(2). An attachment is
// exposed as one external ArrayBuffer registered like a POSIX mapping
// (primitives/shm.h), so futex waits work on it and detaching goes through
// shm.unmap, as SharedMemory.close() does.
#pragma once

#include <napi.h>

namespace shmkit {

void InitSysvShm(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
