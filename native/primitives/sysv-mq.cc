#include "primitives/sysv-mq.h"

#include <pthread.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/deadline.h"
#include "core/errors.h"
#include "core/waiter.h"

// glibc before 2.41 spells the SIGEV_THREAD_ID target this way only.
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

namespace shmkit {

#if defined(__linux__)
namespace {

// msgsnd/msgrcv cannot time out and ignore every cancellation flag. An async
// wait therefore blocks in the kernel on a waiter thread and is interrupted
// every kSliceNs (or at its deadline) by a thread-directed POSIX timer
// (SIGEV_THREAD_ID) raising kInterruptSignal, whose handler does nothing and
// is installed without SA_RESTART: the call fails with EINTR, the job checks
// `cancelled` and its deadline, and blocks again. A message arriving wakes
// the call at once; only cancellation waits for the next slice.
const int kInterruptSignal = SIGRTMAX;
constexpr int kInterruptCookie = 0x73686d6b;  // "shmk": our timers' sival_int

struct sigaction gPreviousInterrupt;

void InterruptHandler(int signo, siginfo_t* info, void* context) {
  if (info != nullptr && info->si_value.sival_int == kInterruptCookie &&
      (info->si_code == SI_TIMER || (info->si_code == SI_QUEUE && info->si_pid == getpid()))) {
    return;  // a slice timer or a cancellation: its only job is the EINTR
  }
  // Somebody else's SIGRTMAX: behave as if we were not here.
  const struct sigaction& prev = gPreviousInterrupt;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction != nullptr) prev.sa_sigaction(signo, info, context);
  } else if (prev.sa_handler == SIG_DFL) {
    signal(signo, SIG_DFL);  // default action of a real-time signal: terminate
    raise(signo);
  } else if (prev.sa_handler != SIG_IGN && prev.sa_handler != nullptr) {
    prev.sa_handler(signo);
  }
}

int InstallInterruptHandler() {
  static std::once_flag once;
  static int result = 0;
  std::call_once(once, [] {
    struct sigaction action;
    std::memset(&action, 0, sizeof(action));
    action.sa_sigaction = InterruptHandler;
    action.sa_flags = SA_SIGINFO;  // no SA_RESTART: msgrcv/msgsnd must fail with EINTR
    sigemptyset(&action.sa_mask);
    if (sigaction(kInterruptSignal, &action, &gPreviousInterrupt) != 0) result = errno;
  });
  return result;
}

// A POSIX timer that interrupts the calling thread every kSliceNs.
class SliceTimer {
 public:
  // Creates the timer; call Arm before each blocking call.
  int Start() {
    int err = InstallInterruptHandler();
    if (err != 0) return err;
    sigevent event;
    std::memset(&event, 0, sizeof(event));
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = kInterruptSignal;
    event.sigev_value.sival_int = kInterruptCookie;
    event.sigev_notify_thread_id = static_cast<pid_t>(syscall(SYS_gettid));
    if (timer_create(CLOCK_MONOTONIC, &event, &timer_) != 0) return errno;
    armed_ = true;
    return 0;
  }

  // Fires at the deadline or after one slice, whichever is first, then every
  // slice (should a signal land before the call blocks).
  void Arm(int64_t deadlineNs) {
    int64_t first = std::min(deadlineNs - MonotonicNowNs(), kSliceNs);
    itimerspec spec;
    spec.it_value = ToTimespec(std::max<int64_t>(first, 1000));
    spec.it_interval = ToTimespec(kSliceNs);
    timer_settime(timer_, 0, &spec, nullptr);
  }

  ~SliceTimer() {
    if (armed_) timer_delete(timer_);
  }

 private:
  timer_t timer_{};
  bool armed_ = false;
};

std::string Subject(int id) { return "msqid " + std::to_string(id); }

// A message as msgsnd/msgrcv see it: a long type, then the bytes.
struct Message {
  long type = 0;
  std::vector<char> text;
};

std::vector<char> MsgBuf(long type, const char* data, size_t length) {
  std::vector<char> buf(sizeof(long) + length);
  std::memcpy(buf.data(), &type, sizeof(long));
  if (length > 0) std::memcpy(buf.data() + sizeof(long), data, length);
  return buf;
}

// Received messages waiting for the JS thread to take them, by token. A
// message whose promise was cancelled meanwhile is put back on its queue.
std::mutex gMailMutex;
std::unordered_map<uint32_t, std::pair<int, Message>> gMail;
uint32_t gNextToken = 1;

// The waiter thread of each running job, by token, so that a cancellation
// can interrupt its msgrcv/msgsnd at once (pthread_sigqueue with our cookie).
std::unordered_map<uint32_t, pthread_t> gRunning;

class Running {
 public:
  explicit Running(uint32_t token) : token_(token) {
    std::lock_guard<std::mutex> lock(gMailMutex);
    gRunning[token_] = pthread_self();
  }
  ~Running() {
    std::lock_guard<std::mutex> lock(gMailMutex);
    gRunning.erase(token_);
  }

 private:
  uint32_t token_;
};

// Puts `message` back on queue `id` (at the tail of its type). Never loses it:
// when the queue is full, a thread of its own waits until it fits.
void PutBack(int id, const Message& message) {
  std::vector<char> buf = MsgBuf(message.type, message.text.data(), message.text.size());
  if (msgsnd(id, buf.data(), message.text.size(), IPC_NOWAIT) == 0) return;
  if (errno != EAGAIN && errno != EINTR) return;  // the queue is gone
  try {
    std::thread([id, buf]() mutable {
      while (msgsnd(id, buf.data(), buf.size() - sizeof(long), 0) != 0 && errno == EINTR) {
      }
    }).detach();
  } catch (...) {
    // No thread to wait with: one last try, then the message is lost.
    msgsnd(id, buf.data(), buf.size() - sizeof(long), IPC_NOWAIT);
  }
}

class ReceiveJob : public WaitJob {
 public:
  ReceiveJob(int id, long type, size_t maxBytes, int flags, uint32_t token)
      : id_(id), type_(type), maxBytes_(maxBytes), flags_(flags), token_(token) {
    subject = Subject(id);
  }

  // A message received but never taken by JS (its environment was torn down
  // before delivery: a Worker ended, the process exited) goes back on its
  // queue rather than vanish with the job.
  ~ReceiveJob() override {
    std::pair<int, Message> entry;
    {
      std::lock_guard<std::mutex> lock(gMailMutex);
      auto found = gMail.find(token_);
      if (found == gMail.end()) return;
      entry = std::move(found->second);
      gMail.erase(found);
    }
    PutBack(entry.first, entry.second);
  }

  WaitResult Run(int64_t deadlineNs, const std::atomic<bool>& cancelled) override {
    std::vector<char> buf;
    try {
      buf.resize(sizeof(long) + maxBytes_);
    } catch (const std::bad_alloc&) {
      return Fail(ENOMEM, "msgrcv");
    }
    Running running(token_);
    SliceTimer timer;
    if (deadlineNs > MonotonicNowNs()) {
      int err = timer.Start();
      if (err != 0) return Fail(err, "timer_create");
    }
    for (;;) {
      if (cancelled.load()) return WaitResult::kCancelled;
      int flags = flags_;
      if (MonotonicNowNs() >= deadlineNs) {
        flags |= IPC_NOWAIT;
      } else {
        timer.Arm(deadlineNs);
      }
      ssize_t got = msgrcv(id_, buf.data(), maxBytes_, type_, flags);
      if (got >= 0) return Deliver(buf, static_cast<size_t>(got), cancelled);
      if (errno == ENOMSG && (flags & IPC_NOWAIT)) return WaitResult::kTimedOut;
      if (errno != EINTR) return Fail(errno, "msgrcv");
    }
  }

 private:
  WaitResult Deliver(const std::vector<char>& buf, size_t length,
                     const std::atomic<bool>& cancelled) {
    Message message;
    std::memcpy(&message.type, buf.data(), sizeof(long));
    message.text.assign(buf.data() + sizeof(long), buf.data() + sizeof(long) + length);
    {
      std::lock_guard<std::mutex> lock(gMailMutex);
      if (!cancelled.load()) {
        gMail[token_] = {id_, std::move(message)};
        return WaitResult::kOk;
      }
    }
    PutBack(id_, message);  // cancelled after it arrived: nobody may lose it
    return WaitResult::kCancelled;
  }

  WaitResult Fail(int err, const char* call) {
    error = err;
    syscall = call;
    return WaitResult::kError;
  }

  int id_;
  long type_;
  size_t maxBytes_;
  int flags_;
  uint32_t token_;
};

class SendJob : public WaitJob {
 public:
  // The bytes are copied here: the caller's buffer may change or be freed
  // while the send is pending.
  SendJob(int id, std::vector<char> buf, uint32_t token)
      : id_(id), buf_(std::move(buf)), token_(token) {
    subject = Subject(id);
  }

  WaitResult Run(int64_t deadlineNs, const std::atomic<bool>& cancelled) override {
    Running running(token_);
    SliceTimer timer;
    if (deadlineNs > MonotonicNowNs()) {
      int err = timer.Start();
      if (err != 0) {
        error = err;
        syscall = "timer_create";
        return WaitResult::kError;
      }
    }
    for (;;) {
      // A send that completed is delivered even if cancelled meanwhile.
      if (cancelled.load()) return WaitResult::kCancelled;
      int flags = 0;
      if (MonotonicNowNs() >= deadlineNs) {
        flags = IPC_NOWAIT;
      } else {
        timer.Arm(deadlineNs);
      }
      if (msgsnd(id_, buf_.data(), buf_.size() - sizeof(long), flags) == 0) return WaitResult::kOk;
      if (errno == EAGAIN && (flags & IPC_NOWAIT)) return WaitResult::kTimedOut;
      if (errno != EINTR) {
        error = errno;
        syscall = "msgsnd";
        return WaitResult::kError;
      }
    }
  }

 private:
  int id_;
  std::vector<char> buf_;
  uint32_t token_;
};

int RequireId(const Napi::Value& value) {
  double id = RequireNumber(value, "id");
  if (id < 0 || id > 2147483647.0) throw Napi::RangeError::New(value.Env(), "id out of range");
  return static_cast<int>(id);
}

long RequireType(const Napi::Value& value) {
  double type = RequireNumber(value, "type");
  if (type < -2147483648.0 || type > 2147483647.0) {
    throw Napi::RangeError::New(value.Env(), "type out of range");
  }
  return static_cast<long>(type);
}

size_t RequireSize(const Napi::Value& value, const char* what) {
  double size = RequireNumber(value, what);
  if (size < 0 || size > 1073741824.0) {
    throw Napi::RangeError::New(value.Env(), std::string(what) + " out of range");
  }
  return static_cast<size_t>(size);
}

std::vector<char> RequireMessage(const Napi::Value& typeValue, const Napi::Value& data) {
  long type = RequireType(typeValue);
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(data.Env(), "data must be a Uint8Array");
  }
  auto bytes = data.As<Napi::Uint8Array>();
  // A detached buffer reads as empty: refuse it rather than send a bogus message.
  if (bytes.ArrayBuffer().IsDetached()) throw Napi::TypeError::New(data.Env(), "data is detached");
  return MsgBuf(type, reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
}

Napi::Value MessageToJs(Napi::Env env, const Message& message) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("type", Napi::Number::New(env, static_cast<double>(message.type)));
  result.Set("data", Napi::Buffer<char>::Copy(env, message.text.data(), message.text.size()));
  return result;
}

// Sleeps for a bounded back-off step of a synchronous wait with a timeout.
void BackOff(int64_t& stepNs, int64_t deadlineNs) {
  int64_t left = deadlineNs - MonotonicNowNs();
  timespec ts = ToTimespec(std::max<int64_t>(0, std::min(stepNs, left)));
  nanosleep(&ts, nullptr);
  stepNs = std::min<int64_t>(stepNs * 2, 5 * kNsPerMs);
}

// msgget(key, openMode, mode) -> { id, created }; openMode 'private' uses IPC_PRIVATE.
Napi::Value Msgget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto key = static_cast<key_t>(static_cast<int32_t>(RequireNumber(info[0], "key")));
  std::string openMode = RequireString(info[1], "openMode");
  auto mode = static_cast<int>(RequireNumber(info[2], "mode")) & 0777;
  int id = -1;
  bool created = false;
  if (openMode == "private") {
    id = msgget(IPC_PRIVATE, IPC_CREAT | mode);
    created = id >= 0;
  } else if (openMode == "create") {
    id = msgget(key, IPC_CREAT | IPC_EXCL | mode);
    created = id >= 0;
  } else if (openMode == "open") {
    id = msgget(key, 0);
  } else if (openMode == "openOrCreate") {
    id = msgget(key, IPC_CREAT | IPC_EXCL | mode);
    created = id >= 0;
    if (id < 0 && errno == EEXIST) id = msgget(key, 0);
  } else {
    throw Napi::TypeError::New(env,
                               "openMode must be 'create', 'open', 'openOrCreate' or 'private'");
  }
  if (id < 0) {
    char subject[32];
    std::snprintf(subject, sizeof(subject), "key 0x%08x", static_cast<unsigned>(key));
    throw ErrnoError(env, errno, "msgget", subject);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("id", id);
  result.Set("created", created);
  return result;
}

Napi::Value Ftok(const Napi::CallbackInfo& info) {
  std::string path = RequireString(info[0], "path");
  auto projId = static_cast<int>(RequireNumber(info[1], "projId"));
  key_t key = ftok(path.c_str(), projId);
  if (key == -1) throw ErrnoError(info.Env(), errno, "ftok", path);
  return Napi::Number::New(info.Env(), key);
}

// msgSend(id, type, data, nowait, timeoutMs) -> true, or false when the queue
// stayed full (nowait, or timeoutMs ran out).
Napi::Value MsgSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireId(info[0]);
  std::vector<char> buf = RequireMessage(info[1], info[2]);
  bool nowait = info[3].ToBoolean();
  double timeoutMs = RequireNumber(info[4], "timeoutMs");
  int64_t deadlineNs = nowait ? 0 : DeadlineFromTimeoutMs(timeoutMs);
  int64_t stepNs = 50 * 1000;
  for (;;) {
    bool blocking = deadlineNs == kForever;
    int flags = blocking ? 0 : IPC_NOWAIT;
    if (msgsnd(id, buf.data(), buf.size() - sizeof(long), flags) == 0)
      return Napi::Boolean::New(env, true);
    if (errno == EINTR) continue;
    if (errno != EAGAIN || blocking) throw ErrnoError(env, errno, "msgsnd", Subject(id));
    if (MonotonicNowNs() >= deadlineNs) return Napi::Boolean::New(env, false);
    BackOff(stepNs, deadlineNs);
  }
}

// msgReceive(id, type, maxBytes, truncate, nowait, timeoutMs) -> { type, data },
// or null when nothing came (nowait, or timeoutMs ran out).
Napi::Value MsgReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireId(info[0]);
  long type = RequireType(info[1]);
  size_t maxBytes = RequireSize(info[2], "maxBytes");
  int baseFlags = info[3].ToBoolean() ? MSG_NOERROR : 0;
  bool nowait = info[4].ToBoolean();
  double timeoutMs = RequireNumber(info[5], "timeoutMs");
  int64_t deadlineNs = nowait ? 0 : DeadlineFromTimeoutMs(timeoutMs);
  std::vector<char> buf;
  try {
    buf.resize(sizeof(long) + maxBytes);
  } catch (const std::bad_alloc&) {
    throw ErrnoError(env, ENOMEM, "msgrcv", Subject(id));
  }
  int64_t stepNs = 50 * 1000;
  for (;;) {
    bool blocking = deadlineNs == kForever;
    ssize_t got = msgrcv(id, buf.data(), maxBytes, type, baseFlags | (blocking ? 0 : IPC_NOWAIT));
    if (got >= 0) {
      Message message;
      std::memcpy(&message.type, buf.data(), sizeof(long));
      message.text.assign(buf.data() + sizeof(long), buf.data() + sizeof(long) + got);
      return MessageToJs(env, message);
    }
    if (errno == EINTR) continue;
    if (errno != ENOMSG || blocking) throw ErrnoError(env, errno, "msgrcv", Subject(id));
    if (MonotonicNowNs() >= deadlineNs) return env.Null();
    BackOff(stepNs, deadlineNs);
  }
}

// msgSendAsync(id, type, data, token, timeoutMs, ref, callback) -> waitId
Napi::Value MsgSendAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireId(info[0]);
  std::vector<char> buf = RequireMessage(info[1], info[2]);
  auto token = static_cast<uint32_t>(RequireNumber(info[3], "token"));
  double timeoutMs = RequireNumber(info[4], "timeoutMs");
  bool ref = info[5].ToBoolean();
  if (!info[6].IsFunction()) throw Napi::TypeError::New(env, "callback must be a function");
  auto job = std::make_unique<SendJob>(id, std::move(buf), token);
  uint32_t waitId =
      StartWait(env, std::move(job), timeoutMs, info[6].As<Napi::Function>(), env.Undefined(), ref);
  return Napi::Number::New(env, waitId);
}

// msgReceiveAsync(id, type, maxBytes, truncate, token, timeoutMs, ref, callback) -> waitId.
// On 'ok' the message waits under `token` for msgTake.
Napi::Value MsgReceiveAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireId(info[0]);
  long type = RequireType(info[1]);
  size_t maxBytes = RequireSize(info[2], "maxBytes");
  int flags = info[3].ToBoolean() ? MSG_NOERROR : 0;
  auto token = static_cast<uint32_t>(RequireNumber(info[4], "token"));
  double timeoutMs = RequireNumber(info[5], "timeoutMs");
  bool ref = info[6].ToBoolean();
  if (!info[7].IsFunction()) throw Napi::TypeError::New(env, "callback must be a function");
  auto job = std::make_unique<ReceiveJob>(id, type, maxBytes, flags, token);
  uint32_t waitId =
      StartWait(env, std::move(job), timeoutMs, info[7].As<Napi::Function>(), env.Undefined(), ref);
  return Napi::Number::New(env, waitId);
}

Napi::Value MsgToken(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(gMailMutex);
  uint32_t token = gNextToken++;
  if (gNextToken == 0) gNextToken = 1;
  return Napi::Number::New(info.Env(), token);
}

// msgTake(token, putBack) -> { type, data } | null. With putBack (a wait
// cancelled in JS, after cancelWait) the job's thread is interrupted at once
// and a message it already received goes back on its queue.
Napi::Value MsgTake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto token = static_cast<uint32_t>(RequireNumber(info[0], "token"));
  bool putBack = info[1].ToBoolean();
  std::pair<int, Message> entry;
  {
    std::lock_guard<std::mutex> lock(gMailMutex);
    auto running = gRunning.find(token);
    if (putBack && running != gRunning.end() && InstallInterruptHandler() == 0) {
      sigval value;
      value.sival_int = kInterruptCookie;
      pthread_sigqueue(running->second, kInterruptSignal, value);
    }
    auto found = gMail.find(token);
    if (found == gMail.end()) return env.Null();
    entry = std::move(found->second);
    gMail.erase(found);
  }
  if (putBack) {
    PutBack(entry.first, entry.second);
    return env.Null();
  }
  return MessageToJs(env, entry.second);
}

Napi::Value MsgStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireId(info[0]);
  msqid_ds ds;
  if (msgctl(id, IPC_STAT, &ds) != 0) throw ErrnoError(env, errno, "msgctl", Subject(id));
  Napi::Object result = Napi::Object::New(env);
  result.Set("messages", static_cast<double>(ds.msg_qnum));
  result.Set("bytes", static_cast<double>(ds.__msg_cbytes));
  result.Set("maxBytes", static_cast<double>(ds.msg_qbytes));
  result.Set("lastSendPid", static_cast<double>(ds.msg_lspid));
  result.Set("lastReceivePid", static_cast<double>(ds.msg_lrpid));
  result.Set("lastSendTime", static_cast<double>(ds.msg_stime));
  result.Set("lastReceiveTime", static_cast<double>(ds.msg_rtime));
  result.Set("changeTime", static_cast<double>(ds.msg_ctime));
  result.Set("mode", static_cast<double>(ds.msg_perm.mode & 0777));
  result.Set("uid", static_cast<double>(ds.msg_perm.uid));
  result.Set("gid", static_cast<double>(ds.msg_perm.gid));
  result.Set("cuid", static_cast<double>(ds.msg_perm.cuid));
  result.Set("cgid", static_cast<double>(ds.msg_perm.cgid));
  result.Set("key", static_cast<double>(ds.msg_perm.__key));
  return result;
}

// msgSet(id, maxBytes | -1, mode | -1)
Napi::Value MsgSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireId(info[0]);
  double maxBytes = RequireNumber(info[1], "maxBytes");
  double mode = RequireNumber(info[2], "mode");
  msqid_ds ds;
  if (msgctl(id, IPC_STAT, &ds) != 0) throw ErrnoError(env, errno, "msgctl", Subject(id));
  if (maxBytes >= 0) ds.msg_qbytes = static_cast<msglen_t>(maxBytes);
  if (mode >= 0) ds.msg_perm.mode = static_cast<unsigned short>(static_cast<int>(mode) & 0777);
  if (msgctl(id, IPC_SET, &ds) != 0) throw ErrnoError(env, errno, "msgctl", Subject(id));
  return env.Undefined();
}

Napi::Value MsgRemove(const Napi::CallbackInfo& info) {
  int id = RequireId(info[0]);
  if (msgctl(id, IPC_RMID, nullptr) != 0) {
    throw ErrnoError(info.Env(), errno, "msgctl", Subject(id));
  }
  return info.Env().Undefined();
}

}  // namespace
#endif  // __linux__

void InitSysvMq([[maybe_unused]] Napi::Env env, [[maybe_unused]] Napi::Object exports) {
#if defined(__linux__)
  exports.Set("msgget", Napi::Function::New(env, Msgget, "msgget"));
  exports.Set("ftok", Napi::Function::New(env, Ftok, "ftok"));
  exports.Set("msgSend", Napi::Function::New(env, MsgSend, "msgSend"));
  exports.Set("msgReceive", Napi::Function::New(env, MsgReceive, "msgReceive"));
  exports.Set("msgSendAsync", Napi::Function::New(env, MsgSendAsync, "msgSendAsync"));
  exports.Set("msgReceiveAsync", Napi::Function::New(env, MsgReceiveAsync, "msgReceiveAsync"));
  exports.Set("msgToken", Napi::Function::New(env, MsgToken, "msgToken"));
  exports.Set("msgTake", Napi::Function::New(env, MsgTake, "msgTake"));
  exports.Set("msgStat", Napi::Function::New(env, MsgStat, "msgStat"));
  exports.Set("msgSet", Napi::Function::New(env, MsgSet, "msgSet"));
  exports.Set("msgRemove", Napi::Function::New(env, MsgRemove, "msgRemove"));
#endif
}

}  // namespace shmkit
