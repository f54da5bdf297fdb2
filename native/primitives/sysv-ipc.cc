#include "primitives/sysv-ipc.h"

#include <cstdint>
#include <cstdio>

#include "core/errors.h"

namespace shmkit {

int RequireSysvId(const Napi::Value& value) {
  double id = RequireNumber(value, "id");
  if (id < 0 || id > 2147483647.0 || id != static_cast<double>(static_cast<int>(id))) {
    throw ArgRangeError(value.Env(), "id out of range");
  }
  return static_cast<int>(id);
}

key_t RequireSysvKey(const Napi::Value& value) {
  double key = RequireNumber(value, "key");
  if (key < -2147483648.0 || key > 4294967295.0 ||
      key != static_cast<double>(static_cast<int64_t>(key))) {
    throw ArgRangeError(value.Env(), "key out of range");
  }
  return static_cast<key_t>(static_cast<uint32_t>(static_cast<int64_t>(key)));
}

std::string SysvKeySubject(key_t key) {
  char subject[32];
  std::snprintf(subject, sizeof(subject), "key 0x%08x", static_cast<unsigned>(key));
  return subject;
}

}  // namespace shmkit
