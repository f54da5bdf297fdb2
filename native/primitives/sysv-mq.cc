#include "primitives/sysv-mq.h"

#include <pthread.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/addon.h"
#include "core/deadline.h"
#include "core/errors.h"
#include "core/interrupt.h"
#include "core/open_mode.h"
#include "core/waiter.h"
#include "primitives/sysv-ipc.h"

namespace shmkit {

#if defined(__linux__)
namespace {

// msgsnd/msgrcv cannot time out and ignore every cancellation flag: an async
// wait blocks in the kernel on a waiter thread, interrupted every kSliceNs by
// a SliceTimer (core/interrupt.h) so that it sees its deadline and
// cancellation; a cancellation interrupts it at once (InterruptThread). A
// message arriving wakes the call at once.

std::string Subject(int id) { return "msqid " + std::to_string(id); }

// A message as msgsnd/msgrcv see it: a long type, then the bytes.
struct Message {
  long type = 0;
  std::vector<char> text;
};

// What a receive asks msgrcv(2) for.
struct ReceiveRequest {
  int id;
  long type;
  size_t maxBytes;
  int flags;  // MSG_NOERROR to truncate a longer message
};

// The message msgrcv(2) left in `buf`, `length` bytes of text after the type.
Message FromMsgBuf(const std::vector<char>& buf, size_t length) {
  Message message;
  std::memcpy(&message.type, buf.data(), sizeof(long));
  message.text.assign(buf.data() + sizeof(long), buf.data() + sizeof(long) + length);
  return message;
}

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

// Every job by token, from its creation on the JS thread to its destruction:
// its waiter thread while Run() runs, so that a cancellation can interrupt its
// msgrcv/msgsnd at once (pthread_sigqueue with our cookie), and whether JS
// asked it to stop (sysv.take with putBack). A send stopped this way is not
// cancelled through the waiter: it reports what happened ('ok' if the message
// went, 'cancelled' if it did not), so an aborted send never claims a loss.
struct JobSlot {
  pthread_t thread{};
  bool running = false;
  bool stopped = false;
};
std::unordered_map<uint32_t, JobSlot> gJobs;  // guarded by gMailMutex

// Registers a job's token for its whole life.
class JobToken {
 public:
  explicit JobToken(uint32_t token) : token_(token) {
    std::lock_guard<std::mutex> lock(gMailMutex);
    gJobs[token_] = JobSlot{};
  }
  ~JobToken() {
    std::lock_guard<std::mutex> lock(gMailMutex);
    gJobs.erase(token_);
  }
  JobToken(const JobToken&) = delete;
  JobToken& operator=(const JobToken&) = delete;

  uint32_t value() const { return token_; }

  // Whether JS asked this job to stop.
  bool Stopped() const {
    std::lock_guard<std::mutex> lock(gMailMutex);
    auto found = gJobs.find(token_);
    return found != gJobs.end() && found->second.stopped;
  }

 private:
  uint32_t token_;
};

// Marks the job's thread as running its blocking call while in scope.
class Running {
 public:
  explicit Running(uint32_t token) : token_(token) {
    std::lock_guard<std::mutex> lock(gMailMutex);
    JobSlot& slot = gJobs[token_];
    slot.thread = pthread_self();
    slot.running = true;
  }
  ~Running() {
    std::lock_guard<std::mutex> lock(gMailMutex);
    auto found = gJobs.find(token_);
    if (found != gJobs.end()) found->second.running = false;
  }

 private:
  uint32_t token_;
};

// How long a put-back waits for room on a full queue before giving up.
constexpr int64_t kPutBackNs = 10 * kNsPerSec;

// Puts `buf` (a MsgBuf) on queue `id` without blocking. Returns 0 or an errno
// (EAGAIN: the queue is full).
int TrySend(int id, const std::vector<char>& buf) {
  for (;;) {
    if (msgsnd(id, buf.data(), buf.size() - sizeof(long), IPC_NOWAIT) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

// A put-back that did not succeed: reported on stderr, since no JS call is
// left to report it to (the receive was settled, or its environment is gone).
void ReportLostPutBack(int id, const std::vector<char>& buf, int err) {
  long type = 0;
  std::memcpy(&type, buf.data(), sizeof(long));
  std::fprintf(stderr,
               "shmkit: a message (type %ld, %zu bytes) taken by a cancelled receive could not "
               "be put back on msqid %d: %s; it is lost\n",
               type, buf.size() - sizeof(long), id,
               err == EAGAIN ? "the queue stayed full for 10 s" : std::strerror(err));
}

// Puts `message` back on queue `id` (at the tail of its type). When the queue
// is full, a thread of its own retries (with a back-off of at most 5 ms) for
// at most kPutBackNs; a put-back that fails is reported (ReportLostPutBack).
void PutBack(int id, const Message& message) {
  std::vector<char> buf = MsgBuf(message.type, message.text.data(), message.text.size());
  int err = TrySend(id, buf);
  if (err == 0) return;
  if (err != EAGAIN) return ReportLostPutBack(id, buf, err);
  try {
    std::thread([id, buf]() {
      int64_t deadlineNs = MonotonicNowNs() + kPutBackNs;
      int64_t stepNs = 50 * 1000;
      int result = EAGAIN;
      while ((result = TrySend(id, buf)) == EAGAIN && MonotonicNowNs() < deadlineNs) {
        int64_t left = deadlineNs - MonotonicNowNs();
        timespec ts = ToTimespec(std::max<int64_t>(0, std::min(stepNs, left)));
        nanosleep(&ts, nullptr);
        stepNs = std::min<int64_t>(stepNs * 2, 5 * kNsPerMs);
      }
      if (result != 0) ReportLostPutBack(id, buf, result);
    }).detach();
  } catch (...) {
    ReportLostPutBack(id, buf, EAGAIN);  // no thread to wait with
  }
}

class ReceiveJob : public WaitJob {
 public:
  ReceiveJob(const ReceiveRequest& request, uint32_t token) : request_(request), token_(token) {
    subject = Subject(request.id);
  }
  ReceiveJob(const ReceiveJob&) = delete;
  ReceiveJob& operator=(const ReceiveJob&) = delete;

  // A message received but never taken by JS (its environment was torn down
  // before delivery: a Worker ended, the process exited) goes back on its
  // queue rather than vanish with the job.
  ~ReceiveJob() override {
    std::pair<int, Message> entry;
    {
      std::lock_guard<std::mutex> lock(gMailMutex);
      auto found = gMail.find(token_.value());
      if (found == gMail.end()) return;
      entry = std::move(found->second);
      gMail.erase(found);
    }
    PutBack(entry.first, entry.second);
  }

  WaitResult Run(int64_t deadlineNs, const std::atomic<bool>& cancelled) override {
    std::vector<char> buf;
    try {
      buf.resize(sizeof(long) + request_.maxBytes);
    } catch (const std::bad_alloc&) {
      return Fail(ENOMEM, "msgrcv");
    }
    Running running(token_.value());
    SliceTimer timer;
    if (deadlineNs > MonotonicNowNs()) {
      int err = timer.Start();
      if (err != 0) return Fail(err, "timer_create");
    }
    for (;;) {
      if (cancelled.load() || token_.Stopped()) return WaitResult::kCancelled;
      int flags = request_.flags;
      if (MonotonicNowNs() >= deadlineNs) {
        flags |= IPC_NOWAIT;
      } else {
        timer.Arm(deadlineNs);
      }
      ssize_t got = msgrcv(request_.id, buf.data(), request_.maxBytes, request_.type, flags);
      if (got >= 0) return Deliver(buf, static_cast<size_t>(got), cancelled);
      if (errno == ENOMSG && (flags & IPC_NOWAIT)) return WaitResult::kTimedOut;
      if (errno != EINTR) return Fail(errno, "msgrcv");
    }
  }

 private:
  WaitResult Deliver(const std::vector<char>& buf, size_t length,
                     const std::atomic<bool>& cancelled) {
    Message message = FromMsgBuf(buf, length);
    {
      std::lock_guard<std::mutex> lock(gMailMutex);
      if (!cancelled.load()) {
        gMail[token_.value()] = {request_.id, std::move(message)};
        return WaitResult::kOk;
      }
    }
    PutBack(request_.id, message);  // cancelled after it arrived: nobody may lose it
    return WaitResult::kCancelled;
  }

  WaitResult Fail(int err, const char* call) {
    error = err;
    syscall = call;
    return WaitResult::kError;
  }

  ReceiveRequest request_;
  JobToken token_;
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
    Running running(token_.value());
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
      // A send that completed is delivered even if cancelled meanwhile; a
      // stop from JS (abort, close) ends the wait only if it did not.
      if (cancelled.load() || token_.Stopped()) return WaitResult::kCancelled;
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
  JobToken token_;
};

long RequireType(const Napi::Value& value) {
  double type = RequireNumber(value, "type");
  if (type < -2147483648.0 || type > 2147483647.0) {
    throw ArgRangeError(value.Env(), "type out of range");
  }
  return static_cast<long>(type);
}

size_t RequireSize(const Napi::Value& value, const char* what) {
  double size = RequireNumber(value, what);
  if (size < 0 || size > 1073741824.0) {
    throw ArgRangeError(value.Env(), std::string(what) + " out of range");
  }
  return static_cast<size_t>(size);
}

// receive and receiveAsync begin with (id, type, maxBytes, truncate).
ReceiveRequest RequireReceiveRequest(const Napi::CallbackInfo& info) {
  int id = RequireSysvId(info[0]);
  long type = RequireType(info[1]);
  size_t maxBytes = RequireSize(info[2], "maxBytes");
  return {id, type, maxBytes, info[3].ToBoolean() ? MSG_NOERROR : 0};
}

std::vector<char> RequireMessage(const Napi::Value& typeValue, const Napi::Value& data) {
  long type = RequireType(typeValue);
  auto bytes = RequireBytes(data, "data");
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

// sysv.get(key, openMode, mode) -> { id, created }; openMode 'private' uses IPC_PRIVATE.
Napi::Value Msgget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  key_t key = RequireSysvKey(info[0]);
  std::string openMode = RequireString(info[1], "openMode");
  auto mode = static_cast<int>(RequireNumber(info[2], "mode")) & 0777;
  Opened<int> opened{-1, false};
  if (openMode == "private") {
    opened.handle = msgget(IPC_PRIVATE, IPC_CREAT | mode);
    opened.created = opened.handle >= 0;
  } else if (IsOpenMode(openMode)) {
    opened = OpenNamed(ParseOpenMode(info[1]), -1, [&](bool create) {
      return msgget(key, create ? IPC_CREAT | IPC_EXCL | mode : 0);
    });
  } else {
    throw ArgValueError(env, "openMode must be 'create', 'open', 'openOrCreate' or 'private'");
  }
  int id = opened.handle;
  if (id < 0) throw ErrnoError(env, errno, "msgget", SysvKeySubject(key));
  Napi::Object result = Napi::Object::New(env);
  result.Set("id", id);
  result.Set("created", opened.created);
  return result;
}

Napi::Value Ftok(const Napi::CallbackInfo& info) {
  std::string path = RequireString(info[0], "path");
  auto projId = static_cast<int>(RequireNumber(info[1], "projId"));
  key_t key = ftok(path.c_str(), projId);
  if (key == -1) throw ErrnoError(info.Env(), errno, "ftok", path);
  return Napi::Number::New(info.Env(), key);
}

// sysv.send(id, type, data, nowait, timeoutMs) -> true, or false when the queue
// stayed full (nowait, or timeoutMs ran out).
Napi::Value MsgSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
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

// sysv.receive(id, type, maxBytes, truncate, nowait, timeoutMs) -> { type, data },
// or null when nothing came (nowait, or timeoutMs ran out).
Napi::Value MsgReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReceiveRequest request = RequireReceiveRequest(info);
  bool nowait = info[4].ToBoolean();
  double timeoutMs = RequireNumber(info[5], "timeoutMs");
  int64_t deadlineNs = nowait ? 0 : DeadlineFromTimeoutMs(timeoutMs);
  std::vector<char> buf;
  try {
    buf.resize(sizeof(long) + request.maxBytes);
  } catch (const std::bad_alloc&) {
    throw ErrnoError(env, ENOMEM, "msgrcv", Subject(request.id));
  }
  int64_t stepNs = 50 * 1000;
  for (;;) {
    bool blocking = deadlineNs == kForever;
    int flags = request.flags | (blocking ? 0 : IPC_NOWAIT);
    ssize_t got = msgrcv(request.id, buf.data(), request.maxBytes, request.type, flags);
    if (got >= 0) return MessageToJs(env, FromMsgBuf(buf, static_cast<size_t>(got)));
    if (errno == EINTR) continue;
    if (errno != ENOMSG || blocking) throw ErrnoError(env, errno, "msgrcv", Subject(request.id));
    if (MonotonicNowNs() >= deadlineNs) return env.Null();
    BackOff(stepNs, deadlineNs);
  }
}

// sysv.sendAsync(id, type, data, token, timeoutMs, ref, callback) -> waitId
Napi::Value MsgSendAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
  std::vector<char> buf = RequireMessage(info[1], info[2]);
  auto token = static_cast<uint32_t>(RequireNumber(info[3], "token"));
  AsyncArgs args = RequireAsyncArgs(info, 4);
  return StartWait(env, std::make_unique<SendJob>(id, std::move(buf), token), args,
                   env.Undefined());
}

// sysv.receiveAsync(id, type, maxBytes, truncate, token, timeoutMs, ref, callback) -> waitId.
// On 'ok' the message waits under `token` for sysv.take.
Napi::Value MsgReceiveAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReceiveRequest request = RequireReceiveRequest(info);
  auto token = static_cast<uint32_t>(RequireNumber(info[4], "token"));
  AsyncArgs args = RequireAsyncArgs(info, 5);
  return StartWait(env, std::make_unique<ReceiveJob>(request, token), args, env.Undefined());
}

Napi::Value MsgToken(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(gMailMutex);
  uint32_t token = gNextToken++;
  if (gNextToken == 0) gNextToken = 1;
  return Napi::Number::New(info.Env(), token);
}

// sysv.take(token, putBack) -> { type, data } | null. With putBack (a wait
// stopped from JS: a receive after waiter.cancel, an aborted or closed send)
// the job is told to stop and its thread interrupted at once; a message a
// receive already got goes back on its queue if it fits now, else (a full
// queue, or one that is gone) it is returned for the caller to put back with
// a deadline and to report a failure.
Napi::Value MsgTake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto token = static_cast<uint32_t>(RequireNumber(info[0], "token"));
  bool putBack = info[1].ToBoolean();
  std::pair<int, Message> entry;
  {
    std::lock_guard<std::mutex> lock(gMailMutex);
    auto job = gJobs.find(token);
    if (putBack && job != gJobs.end()) {
      job->second.stopped = true;
      if (job->second.running) InterruptThread(job->second.thread);
    }
    auto found = gMail.find(token);
    if (found == gMail.end()) return env.Null();
    entry = std::move(found->second);
    gMail.erase(found);
  }
  if (putBack) {
    const Message& message = entry.second;
    std::vector<char> buf = MsgBuf(message.type, message.text.data(), message.text.size());
    if (TrySend(entry.first, buf) == 0) return env.Null();
  }
  return MessageToJs(env, entry.second);
}

Napi::Value MsgStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
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

// sysv.set(id, maxBytes | -1, mode | -1)
Napi::Value MsgSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = RequireSysvId(info[0]);
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
  int id = RequireSysvId(info[0]);
  if (msgctl(id, IPC_RMID, nullptr) != 0) {
    throw ErrnoError(info.Env(), errno, "msgctl", Subject(id));
  }
  return info.Env().Undefined();
}

}  // namespace
#endif  // __linux__

void InitSysvMq([[maybe_unused]] Napi::Env env, [[maybe_unused]] Napi::Object exports) {
#if defined(__linux__)
  ExportGroup(env, exports, "sysv",
              {
                  {"get", Msgget},
                  {"ftok", Ftok},
                  {"send", MsgSend},
                  {"receive", MsgReceive},
                  {"sendAsync", MsgSendAsync},
                  {"receiveAsync", MsgReceiveAsync},
                  {"token", MsgToken},
                  {"take", MsgTake},
                  {"stat", MsgStat},
                  {"set", MsgSet},
                  {"remove", MsgRemove},
              });
#endif
}

}  // namespace shmkit
