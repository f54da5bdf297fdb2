// Process descriptors: pidfd_open(2), and a wait for the process's exit (a
// pidfd polls readable once the process has terminated). Linux >= 5.3.
#pragma once

#include <napi.h>

namespace shmkit {

void InitPidfd(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
