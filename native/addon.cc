// The binding table: every primitive registers its functions here.
#include <napi.h>

#include "futex.h"
#include "named_semaphore.h"
#include "shm.h"
#include "waiter.h"

namespace {

// What this platform offers; lib/ refuses what is missing with one sentence.
Napi::Object Capabilities(Napi::Env env) {
  Napi::Object caps = Napi::Object::New(env);
  caps.Set("shm", true);
  caps.Set("namedSemaphores", true);
#if defined(__linux__)
  caps.Set("semTimedwait", true);
  caps.Set("futex", true);
#else
  caps.Set("semTimedwait", false);
  caps.Set("futex", false);
#endif
  return caps;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  shmkit::InitWaiter(env, exports);
  shmkit::InitShm(env, exports);
  shmkit::InitSemaphore(env, exports);
  shmkit::InitFutex(env, exports);
  exports.Set("capabilities", Capabilities(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(shmkit, Init)
