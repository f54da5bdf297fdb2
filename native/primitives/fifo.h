// Named pipes: mkfifo(3), which Node's fs does not offer. Opening, reading
// and writing go through Node's own fs and net (lib/primitives/fifo.ts).
#pragma once

#include <napi.h>

namespace shmkit {

void InitFifo(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
