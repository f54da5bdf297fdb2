// The binding table: every primitive registers its functions here.
#include <napi.h>

#include "fifo.h"
#include "futex.h"
#include "named_semaphore.h"
#include "posix_mq.h"
#include "shm.h"
#include "signals.h"
#include "sysv_mq.h"
#include "waiter.h"

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
