// POSIX message queues: mq_open(3), mq_send(3), mq_receive(3),
// mq_getattr(3), mq_close(3), mq_unlink(3). Linux only (macOS has none).
#pragma once

#include <napi.h>

namespace shmkit {

void InitPosixMq(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
