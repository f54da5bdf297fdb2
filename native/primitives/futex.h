// Process-shared futex wait/wake on a 32-bit word of a mapping (futex(2)),
// or of a SharedArrayBuffer between threads.
#pragma once

#include <napi.h>

namespace shmkit {

void InitFutex(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
