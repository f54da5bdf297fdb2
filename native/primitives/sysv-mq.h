// System V message queues: msgget(2), msgsnd(2), msgrcv(2), msgctl(2),
// ftok(3).
#pragma once

#include <napi.h>

namespace shmkit {

void InitSysvMq(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
