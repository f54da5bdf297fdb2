// POSIX named semaphores: sem_open(3), sem_post(3), sem_trywait(3),
// sem_clockwait/sem_timedwait(3), sem_getvalue(3), sem_close(3), sem_unlink(3).
#pragma once

#include <napi.h>

namespace shmkit {

void InitSemaphore(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
