// Signals with siginfo: sigaction(2) SA_SIGINFO handlers that write the
// sender's pid, uid and sigqueue value to a self-pipe, kill(2), sigqueue(3).
#pragma once

#include <napi.h>

namespace shmkit {

void InitSignals(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
