#include "primitives/sysv-sem.h"

#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/addon.h"
#include "core/deadline.h"
#include "core/errors.h"
#include "core/waiter.h"
#include "primitives/sysv-ipc.h"

namespace shmkit {

#if defined(__linux__)
namespace {

// semctl(2)'s fourth argument: the caller defines it (sys/sem.h does not).
union semun {
  int val;
  semid_ds* buf;
  unsigned short* array;
};

std::string Subject(int id) { return "semid " + std::to_string(id); }

int RequireIndex(const Napi::Value& value) {
  double index = RequireNumber(value, "index");
  if (index < 0 || index > 65535.0 || index != static_cast<double>(static_cast<int>(index))) {
    throw ArgRangeError(value.Env(), "index out of range");
  }
  return static_cast<int>(index);
}

// The operations of one semop: an Int32Array of (index, delta, flags)
// triples, flags a mix of SEM_UNDO and IPC_NOWAIT.
std::vector<sembuf> RequireOps(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw ArgTypeError(env, "ops must be an Int32Array");
  }
  auto array = value.As<Napi::Int32Array>();
  size_t length = array.ElementLength();
  if (length == 0 || length % 3 != 0) {
    throw ArgValueError(env, "ops must hold (index, delta, flags) triples");
  }
  std::vector<sembuf> ops(length / 3);
  for (size_t i = 0; i < ops.size(); i++) {
    int32_t index = array[i * 3];
    int32_t delta = array[i * 3 + 1];
    int32_t flags = array[i * 3 + 2];
    if (index < 0 || index > 65535) throw ArgRangeError(env, "ops: index out of range");
    if (delta < -32768 || delta > 32767) throw ArgRangeError(env, "ops: delta out of range");
    if ((flags & ~(SEM_UNDO | IPC_NOWAIT)) != 0) throw ArgValueError(env, "ops: bad flags");
    ops[i].sem_num = static_cast<unsigned short>(index);
    ops[i].sem_op = static_cast<short>(delta);
    ops[i].sem_flg = static_cast<short>(flags);
  }
  return ops;
}

// One semop, blocking for at most until `deadlineNs` in slices of kSliceNs
// and giving up early once `cancelled`; on the JS thread for opSync, on a
// thread of the blocking pool for op.
class SemopJob : public WaitJob {
 public:
  SemopJob(int id, std::vector<sembuf> ops) : id_(id), ops_(std::move(ops)) {
    subject = Subject(id);
    for (const sembuf& op : ops_) noWait_ = noWait_ || (op.sem_flg & IPC_NOWAIT) != 0;
  }

  WaitResult Run(int64_t deadlineNs, const std::atomic<bool>& cancelled) override {
    for (;;) {
      if (cancelled.load()) return WaitResult::kCancelled;
      int64_t now = MonotonicNowNs();
      int64_t sliceEnd = deadlineNs <= now ? now : std::min(deadlineNs, now + kSliceNs);
      timespec slice = ToTimespec(sliceEnd - now);
      if (semtimedop(id_, ops_.data(), ops_.size(), &slice) == 0) {
        if (!cancelled.load()) return WaitResult::kOk;
        Undo();  // nobody wants these units any more: give them back
        return WaitResult::kCancelled;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return Fail(errno);
      // EAGAIN before the slice ended: an operation with IPC_NOWAIT could not
      // proceed; after it, the slice (or the whole timeout) ran out. A slice
      // of zero (timeoutMs 0) cannot tell the two apart by the clock: with an
      // IPC_NOWAIT operation among the ops, report it as that one's EAGAIN.
      if (MonotonicNowNs() < sliceEnd || (sliceEnd == now && noWait_)) return Fail(EAGAIN);
      if (sliceEnd >= deadlineNs) return WaitResult::kTimedOut;
    }
  }

  // Applies the inverse of the operations, without waiting and with the same
  // SEM_UNDO flags (so the process's adjustments cancel out too). Best
  // effort: a unit this op added that a peer took since cannot come back.
  void Undo() override {
    std::vector<sembuf> inverse;
    for (const sembuf& op : ops_) {
      if (op.sem_op == 0) continue;
      sembuf back = op;
      back.sem_op = static_cast<short>(-op.sem_op);
      back.sem_flg = static_cast<short>((op.sem_flg & SEM_UNDO) | IPC_NOWAIT);
      inverse.push_back(back);
    }
    if (inverse.empty()) return;
    while (semop(id_, inverse.data(), inverse.size()) != 0 && errno == EINTR) {
    }
  }

 private:
  WaitResult Fail(int err) {
    error = err;
    syscall = "semop";
    return WaitResult::kError;
  }

  int id_;
  std::vector<sembuf> ops_;
  bool noWait_ = false;  // an operation has IPC_NOWAIT
};

// sysvSem.get(key, openMode, count, mode) -> { id, created }. openMode
// 'create' (IPC_CREAT|IPC_EXCL), 'open' (count 0), 'private' (IPC_PRIVATE).
Napi::Value Semget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  key_t key = RequireSysvKey(info[0]);
  std::string openMode = RequireString(info[1], "openMode");
  double count = RequireNumber(info[2], "count");
  if (count < 0 || count > 65535.0) throw ArgRangeError(env, "count out of range");
  int nsems = static_cast<int>(count);
  int mode = static_cast<int>(RequireNumber(info[3], "mode")) & 0777;
  int id = -1;
  bool created = false;
  if (openMode == "private") {
    key = IPC_PRIVATE;
    id = semget(IPC_PRIVATE, nsems, IPC_CREAT | mode);
    created = id >= 0;
  } else if (openMode == "create") {
    id = semget(key, nsems, IPC_CREAT | IPC_EXCL | mode);
    created = id >= 0;
  } else if (openMode == "open") {
    id = semget(key, 0, 0);
  } else {
    throw ArgValueError(env, "openMode must be 'create', 'open' or 'private'");
  }
  if (id < 0) throw ErrnoError(env, errno, "semget", SysvKeySubject(key));
  Napi::Object result = Napi::Object::New(env);
  result.Set("id", id);
  result.Set("created", created);
  return result;
}

// sysvSem.tryOp(id, ops) -> false if an operation could not proceed at once
// (every operation gets IPC_NOWAIT).
Napi::Value TryOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  std::vector<sembuf> ops = RequireOps(info[1]);
  for (sembuf& op : ops) op.sem_flg = static_cast<short>(op.sem_flg | IPC_NOWAIT);
  for (;;) {
    if (semop(id, ops.data(), ops.size()) == 0) return Napi::Boolean::New(env, true);
    if (errno == EAGAIN) return Napi::Boolean::New(env, false);
    if (errno != EINTR) throw ErrnoError(env, errno, "semop", Subject(id));
  }
}

// sysvSem.opSync(id, ops, timeoutMs) -> 'ok' | 'timed-out'; EAGAIN is thrown
// when an operation with IPC_NOWAIT could not proceed.
Napi::Value OpSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  double timeoutMs = RequireNumber(info[2], "timeoutMs");
  SemopJob job(id, RequireOps(info[1]));
  return Napi::String::New(env, WaitResultName(RunSync(env, job, timeoutMs)));
}

// sysvSem.opAsync(id, ops, timeoutMs, ref, callback) -> waitId
Napi::Value OpAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  std::vector<sembuf> ops = RequireOps(info[1]);
  AsyncArgs args = RequireAsyncArgs(info, 2);
  return StartWait(env, std::make_unique<SemopJob>(id, std::move(ops)), args, env.Undefined());
}

// semctl(id, index, cmd) for the commands that return a number.
Napi::Value CtlNumber(const Napi::CallbackInfo& info, int cmd) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  int index = RequireIndex(info[1]);
  int result = semctl(id, index, cmd);
  if (result < 0) throw ErrnoError(env, errno, "semctl", Subject(id));
  return Napi::Number::New(env, result);
}

Napi::Value GetVal(const Napi::CallbackInfo& info) { return CtlNumber(info, GETVAL); }
Napi::Value GetNcnt(const Napi::CallbackInfo& info) { return CtlNumber(info, GETNCNT); }
Napi::Value GetZcnt(const Napi::CallbackInfo& info) { return CtlNumber(info, GETZCNT); }
Napi::Value GetPid(const Napi::CallbackInfo& info) { return CtlNumber(info, GETPID); }

// sysvSem.setVal(id, index, value)
Napi::Value SetVal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  int index = RequireIndex(info[1]);
  double value = RequireNumber(info[2], "value");
  if (value < 0 || value > 32767.0) throw ArgRangeError(env, "value out of range");
  semun arg{};
  arg.val = static_cast<int>(value);
  if (semctl(id, index, SETVAL, arg) != 0) throw ErrnoError(env, errno, "semctl", Subject(id));
  return env.Undefined();
}

int CountOf(Napi::Env env, int id) {
  semid_ds ds;
  semun arg{};
  arg.buf = &ds;
  if (semctl(id, 0, IPC_STAT, arg) != 0) throw ErrnoError(env, errno, "semctl", Subject(id));
  return static_cast<int>(ds.sem_nsems);
}

// sysvSem.getAll(id) -> number[] (GETALL)
Napi::Value GetAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  std::vector<unsigned short> values(static_cast<size_t>(CountOf(env, id)));
  semun arg{};
  arg.array = values.data();
  if (semctl(id, 0, GETALL, arg) != 0) throw ErrnoError(env, errno, "semctl", Subject(id));
  Napi::Array result = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); i++) result.Set(static_cast<uint32_t>(i), values[i]);
  return result;
}

// sysvSem.setAll(id, Int32Array of one value per semaphore) (SETALL)
Napi::Value SetAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  if (!info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw ArgTypeError(env, "values must be an Int32Array");
  }
  auto given = info[1].As<Napi::Int32Array>();
  // SETALL reads exactly sem_nsems values: a shorter array would be overrun.
  if (given.ElementLength() != static_cast<size_t>(CountOf(env, id))) {
    throw ArgRangeError(env, "values must hold one value per semaphore of the set");
  }
  std::vector<unsigned short> values(given.ElementLength());
  for (size_t i = 0; i < values.size(); i++) {
    if (given[i] < 0 || given[i] > 32767) throw ArgRangeError(env, "values: value out of range");
    values[i] = static_cast<unsigned short>(given[i]);
  }
  semun arg{};
  arg.array = values.data();
  if (semctl(id, 0, SETALL, arg) != 0) throw ErrnoError(env, errno, "semctl", Subject(id));
  return env.Undefined();
}

Napi::Value SemStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  semid_ds ds;
  semun arg{};
  arg.buf = &ds;
  if (semctl(id, 0, IPC_STAT, arg) != 0) throw ErrnoError(env, errno, "semctl", Subject(id));
  Napi::Object result = Napi::Object::New(env);
  result.Set("count", static_cast<double>(ds.sem_nsems));
  result.Set("otime", static_cast<double>(ds.sem_otime));
  result.Set("ctime", static_cast<double>(ds.sem_ctime));
  result.Set("mode", static_cast<double>(ds.sem_perm.mode & 0777));
  result.Set("uid", static_cast<double>(ds.sem_perm.uid));
  result.Set("gid", static_cast<double>(ds.sem_perm.gid));
  result.Set("cuid", static_cast<double>(ds.sem_perm.cuid));
  result.Set("cgid", static_cast<double>(ds.sem_perm.cgid));
  result.Set("key", static_cast<double>(ds.sem_perm.__key));
  return result;
}

// sysvSem.setMode(id, mode): semctl IPC_SET of the permission bits.
Napi::Value SetMode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  int mode = static_cast<int>(RequireNumber(info[1], "mode")) & 0777;
  semid_ds ds;
  semun arg{};
  arg.buf = &ds;
  if (semctl(id, 0, IPC_STAT, arg) != 0) throw ErrnoError(env, errno, "semctl", Subject(id));
  ds.sem_perm.mode = static_cast<unsigned short>(mode);
  if (semctl(id, 0, IPC_SET, arg) != 0) throw ErrnoError(env, errno, "semctl", Subject(id));
  return env.Undefined();
}

Napi::Value Remove(const Napi::CallbackInfo& info) {
  int id = RequireSysvId(info[0]);
  if (semctl(id, 0, IPC_RMID) != 0) throw ErrnoError(info.Env(), errno, "semctl", Subject(id));
  return info.Env().Undefined();
}

}  // namespace
#endif  // __linux__

void InitSysvSem([[maybe_unused]] Napi::Env env, [[maybe_unused]] Napi::Object exports) {
#if defined(__linux__)
  ExportGroup(env, exports, "sysvSem",
              {
                  {"get", Semget},
                  {"tryOp", TryOp},
                  {"opSync", OpSync},
                  {"opAsync", OpAsync},
                  {"getVal", GetVal},
                  {"setVal", SetVal},
                  {"getAll", GetAll},
                  {"setAll", SetAll},
                  {"getNcnt", GetNcnt},
                  {"getZcnt", GetZcnt},
                  {"getPid", GetPid},
                  {"stat", SemStat},
                  {"setMode", SetMode},
                  {"remove", Remove},
              });
#endif
}

}  // namespace shmkit
