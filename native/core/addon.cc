// The binding table: every primitive registers its functions here.
#include <napi.h>

#include "core/waiter.h"
#include "primitives/fifo.h"
#include "primitives/futex.h"
#include "primitives/posix-mq.h"
#include "primitives/semaphore.h"
#include "primitives/shm.h"
#include "primitives/signals.h"
#include "primitives/sysv-mq.h"

namespace {

// What this platform offers; lib/ refuses what is missing with one sentence.
Napi::Object Capabilities(Napi::Env env) {
  Napi::Object caps = Napi::Object::New(env);
  caps.Set("shm", true);
  caps.Set("namedSemaphores", true);
  caps.Set("fifo", true);
#if defined(__linux__)
  caps.Set("semTimedwait", true);
  caps.Set("futex", true);
  caps.Set("sysvMq", true);
  caps.Set("posixMq", true);
  caps.Set("siginfo", true);
  caps.Set("sigqueue", true);
#else
  caps.Set("semTimedwait", false);
  caps.Set("futex", false);
  caps.Set("sysvMq", false);
  caps.Set("posixMq", false);
  caps.Set("siginfo", false);
  caps.Set("sigqueue", false);
#endif
  return caps;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  shmkit::InitWaiter(env, exports);
  shmkit::InitShm(env, exports);
  shmkit::InitSemaphore(env, exports);
  shmkit::InitFutex(env, exports);
  shmkit::InitSysvMq(env, exports);
  shmkit::InitPosixMq(env, exports);
  shmkit::InitFifo(env, exports);
  shmkit::InitSignals(env, exports);
  exports.Set("capabilities", Capabilities(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(shmkit, Init)
