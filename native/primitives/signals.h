// Signals with siginfo: sigaction(2) SA_SIGINFO handlers that write the
// sender's pid, uid and sigqueue value to a self-pipe, kill(2), sigqueue(3).
#pragma once

#include <napi.h>

#include <cstdint>
#include <vector>

namespace shmkit {

// One received signal, as the handler writes it to the self-pipe and
// signals.drain() hands it to JS: six int32s (lib/primitives/signals.ts).
struct SignalRecord {
  int32_t signo;
  int32_t code;
  int32_t pid;
  uint32_t uid;
  int32_t value;
  int32_t status;
};

// The signals machinery of one environment: a member of its AddonData. The
// pipe and the handlers are the process's; the buffer drain() reads into is
// the environment's, so two threads never drain into the same one.
struct SignalsEnv {
  std::vector<SignalRecord> drained;
};

void InitSignals(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
