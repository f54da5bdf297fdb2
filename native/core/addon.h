// What the addon is per environment, and how its functions are exported.
#pragma once

#include <napi.h>

#include <initializer_list>

#include "core/waiter.h"
#include "primitives/signals.h"

namespace shmkit {

// Everything shmkit keeps per environment (the main thread and each Worker
// load the addon once each): the environment's instance data, set once in
// Init and deleted with the environment.
struct AddonData {
  WaiterEnv waiter;
  SignalsEnv signals;
};

// The AddonData of `env`.
AddonData& GetAddonData(Napi::Env env);

// One exported function; its JS name is written only here.
struct Method {
  const char* name;
  Napi::Function::Callback callback;
};

// Sets exports[group] to an object of `methods` and returns it, so that each
// primitive's functions sit under its own name (binding.shm.open,
// binding.sysv.send); lib/core/binding.ts describes the same shape.
Napi::Object ExportGroup(Napi::Env env, Napi::Object exports, const char* group,
                         std::initializer_list<Method> methods);

}  // namespace shmkit
