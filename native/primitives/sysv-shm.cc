#include "primitives/sysv-shm.h"

#include <sys/ipc.h>
#include <sys/shm.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "core/addon.h"
#include "core/errors.h"
#include "primitives/shm.h"
#include "primitives/sysv-ipc.h"

namespace shmkit {

#if defined(__linux__)
namespace {

std::string Subject(int id) { return "shmid " + std::to_string(id); }

// sysvShm.get(key, openMode, size, mode) -> { id, created }. openMode:
// 'create' (IPC_CREAT|IPC_EXCL), 'open' (size 0: any size), 'private'
// (IPC_PRIVATE, key ignored).
Napi::Value Shmget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  key_t key = RequireSysvKey(info[0]);
  std::string openMode = RequireString(info[1], "openMode");
  double size = RequireNumber(info[2], "size");
  if (size < 0 || size > 9007199254740991.0 ||
      size != static_cast<double>(static_cast<int64_t>(size))) {
    throw ArgRangeError(env, "size must be a non-negative safe integer");
  }
  int mode = static_cast<int>(RequireNumber(info[3], "mode")) & 0777;
  int id = -1;
  bool created = false;
  if (openMode == "private") {
    key = IPC_PRIVATE;
    id = shmget(IPC_PRIVATE, static_cast<size_t>(size), IPC_CREAT | mode);
    created = id >= 0;
  } else if (openMode == "create") {
    id = shmget(key, static_cast<size_t>(size), IPC_CREAT | IPC_EXCL | mode);
    created = id >= 0;
  } else if (openMode == "open") {
    id = shmget(key, static_cast<size_t>(size), 0);
  } else {
    throw ArgValueError(env, "openMode must be 'create', 'open' or 'private'");
  }
  if (id < 0) throw ErrnoError(env, errno, "shmget", SysvKeySubject(key));
  Napi::Object result = Napi::Object::New(env);
  result.Set("id", id);
  result.Set("created", created);
  return result;
}

bool Stat(int id, shmid_ds* ds) { return shmctl(id, IPC_STAT, ds) == 0; }

// sysvShm.attach(id) -> one ArrayBuffer over the whole segment (shmat(2)
// at an address the kernel picks), read-write. No SHM_RDONLY: its pages are
// PROT_READ, and a write through the ArrayBuffer would be a SIGSEGV (System
// V has no private copy-on-write attach, as a read-only POSIX mapping has).
Napi::Value Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  void* address = shmat(id, nullptr, 0);
  if (address == reinterpret_cast<void*>(-1)) throw ErrnoError(env, errno, "shmat", Subject(id));
  // The size of the segment now attached (the attachment keeps it from going
  // away, so this is the segment mapped even if the id was reused meanwhile).
  shmid_ds ds{};
  int err = Stat(id, &ds) ? (ds.shm_segsz == 0 ? EINVAL : 0) : errno;
  if (err != 0) {
    shmdt(address);
    throw ErrnoError(env, err, "shmctl", Subject(id));
  }
  return ExposeMapping(env, address, ds.shm_segsz, Subject(id));
}

Napi::Value ShmStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  shmid_ds ds;
  if (!Stat(id, &ds)) throw ErrnoError(env, errno, "shmctl", Subject(id));
  Napi::Object result = Napi::Object::New(env);
  result.Set("size", static_cast<double>(ds.shm_segsz));
  result.Set("nattch", static_cast<double>(ds.shm_nattch));
  result.Set("cpid", static_cast<double>(ds.shm_cpid));
  result.Set("lpid", static_cast<double>(ds.shm_lpid));
  result.Set("atime", static_cast<double>(ds.shm_atime));
  result.Set("dtime", static_cast<double>(ds.shm_dtime));
  result.Set("ctime", static_cast<double>(ds.shm_ctime));
  result.Set("mode", static_cast<double>(ds.shm_perm.mode & 0777));
  result.Set("removed", (ds.shm_perm.mode & SHM_DEST) != 0);
  result.Set("uid", static_cast<double>(ds.shm_perm.uid));
  result.Set("gid", static_cast<double>(ds.shm_perm.gid));
  result.Set("cuid", static_cast<double>(ds.shm_perm.cuid));
  result.Set("cgid", static_cast<double>(ds.shm_perm.cgid));
  result.Set("key", static_cast<double>(ds.shm_perm.__key));
  return result;
}

// sysvShm.setMode(id, mode): shmctl IPC_SET of the permission bits.
Napi::Value SetMode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  int mode = static_cast<int>(RequireNumber(info[1], "mode")) & 0777;
  shmid_ds ds;
  if (!Stat(id, &ds)) throw ErrnoError(env, errno, "shmctl", Subject(id));
  ds.shm_perm.mode = static_cast<unsigned short>(mode);
  if (shmctl(id, IPC_SET, &ds) != 0) throw ErrnoError(env, errno, "shmctl", Subject(id));
  return env.Undefined();
}

Napi::Value Remove(const Napi::CallbackInfo& info) {
  int id = RequireSysvId(info[0]);
  if (shmctl(id, IPC_RMID, nullptr) != 0) {
    throw ErrnoError(info.Env(), errno, "shmctl", Subject(id));
  }
  return info.Env().Undefined();
}

}  // namespace
#endif  // __linux__

void InitSysvShm([[maybe_unused]] Napi::Env env, [[maybe_unused]] Napi::Object exports) {
#if defined(__linux__)
  ExportGroup(env, exports, "sysvShm",
              {
                  {"get", Shmget},
                  {"attach", Attach},
                  {"stat", ShmStat},
                  {"setMode", SetMode},
                  {"remove", Remove},
              });
#endif
}

}  // namespace shmkit
