// What the System V primitives share (sysv-mq, sysv-shm, sysv-sem): an IPC
// id and key read from JS, and the name an error gives a key. svipc(7).
#pragma once

#include <napi.h>
#include <sys/types.h>

#include <string>

namespace shmkit {

// A msqid/shmid/semid from JS: an integer in [0, 2^31). RangeError otherwise.
int RequireSysvId(const Napi::Value& value);

// A key from JS: an integer in [-2^31, 2^32) (keys print as unsigned, C
// code stores them signed); its 32 bits. RangeError otherwise.
key_t RequireSysvKey(const Napi::Value& value);

// "key 0x0000abcd": how an error names the object it could not get by key.
std::string SysvKeySubject(key_t key);

}  // namespace shmkit
