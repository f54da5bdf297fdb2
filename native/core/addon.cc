// The binding: every primitive registers its group of functions here
// (lib/core/binding.ts is the TypeScript description of the same object).
#include "core/addon.h"

#include <napi.h>

#include "primitives/fifo.h"
#include "primitives/futex.h"
#include "primitives/pidfd.h"
#include "primitives/posix-mq.h"
#include "primitives/semaphore.h"
#include "primitives/shm.h"
#include "primitives/signals.h"
#include "primitives/sysv-mq.h"
#include "primitives/sysv-sem.h"
#include "primitives/sysv-shm.h"

namespace shmkit {

AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

Napi::Object ExportGroup(Napi::Env env, Napi::Object exports, const char* group,
                         std::initializer_list<Method> methods) {
  Napi::Object object = Napi::Object::New(env);
  for (const Method& method : methods) {
    object.Set(method.name, Napi::Function::New(env, method.callback, method.name));
  }
  exports.Set(group, object);
  return object;
}

}  // namespace shmkit

namespace {

// What this platform offers; lib/ refuses what is missing with one sentence.
Napi::Object Capabilities(Napi::Env env) {
#if defined(__linux__)
  constexpr bool kLinux = true;
#else
  constexpr bool kLinux = false;
#endif
  Napi::Object caps = Napi::Object::New(env);
  for (const char* always : {"shm", "namedSemaphores", "fifo"}) caps.Set(always, true);
  for (const char* linuxOnly : {"semTimedwait", "futex", "sysvMq", "sysvShm", "sysvSem", "posixMq",
                                "siginfo", "sigqueue"}) {
    caps.Set(linuxOnly, kLinux);
  }
  return caps;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new shmkit::AddonData());
  shmkit::InitWaiter(env, exports);
  shmkit::InitShm(env, exports);
  shmkit::InitSemaphore(env, exports);
  shmkit::InitFutex(env, exports);
  shmkit::InitSysvMq(env, exports);
  shmkit::InitSysvShm(env, exports);
  shmkit::InitSysvSem(env, exports);
  shmkit::InitPosixMq(env, exports);
  shmkit::InitFifo(env, exports);
  shmkit::InitSignals(env, exports);
  shmkit::InitPidfd(env, exports);
  exports.Set("capabilities", Capabilities(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(shmkit, Init)
