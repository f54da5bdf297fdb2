#include "primitives/posix-mq.h"

#if defined(__linux__)
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "core/deadline.h"
#include "core/errors.h"
#include "core/open_mode.h"
#include "core/waiter.h"
#endif

namespace shmkit {

#if defined(__linux__)
namespace {

// One mq_open'ed descriptor, always O_NONBLOCK: every send and receive is a
// try on the calling thread, and every wait is a poll(2) for readiness (on
// Linux an mqd_t is a pollable descriptor). A wait therefore never takes a
// message off the queue, so a cancelled wait cannot lose one.
struct MqCore {
  mqd_t mq = -1;
  std::string name;
  ~MqCore() {
    if (mq != -1) mq_close(mq);
  }
};

// Polls `fd` for `events` until the deadline, in slices so that a
// cancellation is seen within kSliceNs. Returns 1 when ready, 0 on timeout,
// -errno on failure.
int PollUntil(int fd, short events, int64_t deadlineNs, const std::atomic<bool>* cancelled) {
  for (;;) {
    if (cancelled != nullptr && cancelled->load()) return 0;
    int64_t left = deadlineNs - MonotonicNowNs();
    if (left < 0) left = 0;
    if (cancelled != nullptr) left = std::min(left, kSliceNs);
    timespec ts = ToTimespec(left);
    pollfd pfd{fd, events, 0};
    int ready =
        ppoll(&pfd, 1, deadlineNs == kForever && cancelled == nullptr ? nullptr : &ts, nullptr);
    if (ready > 0) {
      if (pfd.revents & POLLNVAL) return -EBADF;
      return 1;
    }
    if (ready < 0 && errno != EINTR) return -errno;
    if (ready == 0 && MonotonicNowNs() >= deadlineNs) return 0;
  }
}

class MqPollJob : public WaitJob {
 public:
  MqPollJob(std::shared_ptr<MqCore> core, short events) : core_(std::move(core)), events_(events) {
    subject = core_->name;
  }

  WaitResult Run(int64_t deadlineNs, const std::atomic<bool>& cancelled) override {
    int ready = PollUntil(core_->mq, events_, deadlineNs, &cancelled);
    if (ready < 0) {
      error = -ready;
      syscall = "poll";
      return WaitResult::kError;
    }
    if (cancelled.load()) return WaitResult::kCancelled;
    return ready == 1 ? WaitResult::kOk : WaitResult::kTimedOut;
  }

 private:
  std::shared_ptr<MqCore> core_;
  short events_;
};

short ParseEvents(const Napi::Value& value) {
  std::string text = RequireString(value, "events");
  if (text == "in") return POLLIN;
  if (text == "out") return POLLOUT;
  throw Napi::TypeError::New(value.Env(), "events must be 'in' or 'out'");
}

class PosixMqHandle : public Napi::ObjectWrap<PosixMqHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PosixMqHandle",
                       {
                           InstanceMethod<&PosixMqHandle::Send>("send"),
                           InstanceMethod<&PosixMqHandle::Receive>("receive"),
                           InstanceMethod<&PosixMqHandle::PollSync>("pollSync"),
                           InstanceMethod<&PosixMqHandle::PollAsync>("pollAsync"),
                           InstanceMethod<&PosixMqHandle::Attributes>("attributes"),
                           InstanceMethod<&PosixMqHandle::Close>("close"),
                       });
  }

  // new PosixMqHandle(name, openMode, mode, maxMessages, messageSize);
  // maxMessages/messageSize 0 = the system defaults.
  explicit PosixMqHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PosixMqHandle>(info) {
    Napi::Env env = info.Env();
    std::string name = RequireString(info[0], "name");
    OpenMode openMode = ParseOpenMode(info[1]);
    auto mode = static_cast<mode_t>(RequireNumber(info[2], "mode"));
    auto maxMessages = static_cast<long>(RequireNumber(info[3], "maxMessages"));
    auto messageSize = static_cast<long>(RequireNumber(info[4], "messageSize"));
    mq_attr attr{};
    attr.mq_maxmsg = maxMessages;
    attr.mq_msgsize = messageSize;
    mq_attr* attrs = maxMessages > 0 && messageSize > 0 ? &attr : nullptr;
    const int flags = O_RDWR | O_NONBLOCK | O_CLOEXEC;
    mqd_t mq = -1;
    bool created = false;
    if (openMode != OpenMode::kOpen) {
      mq = mq_open(name.c_str(), flags | O_CREAT | O_EXCL, mode, attrs);
      created = mq != -1;
    }
    bool mayOpen = openMode == OpenMode::kOpen ||
                   (openMode == OpenMode::kOpenOrCreate && mq == -1 && errno == EEXIST);
    if (mayOpen) mq = mq_open(name.c_str(), flags);
    if (mq == -1) throw ErrnoError(env, errno, "mq_open", name);
    core_ = std::make_shared<MqCore>();
    core_->mq = mq;
    core_->name = name;
    mq_attr actual{};
    if (mq_getattr(mq, &actual) == 0) messageSize_ = static_cast<size_t>(actual.mq_msgsize);
    info.This().As<Napi::Object>().Set("created", Napi::Boolean::New(env, created));
  }

 private:
  std::shared_ptr<MqCore> Core(Napi::Env env) {
    if (!core_) throw Napi::Error::New(env, "message queue is closed");
    return core_;
  }

  // send(data, priority) -> false if the queue is full
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = Core(env);
    if (!info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "data must be a Uint8Array");
    }
    auto data = info[0].As<Napi::Uint8Array>();
    // A detached buffer reads as empty: refuse it rather than send a bogus message.
    if (data.ArrayBuffer().IsDetached()) throw Napi::TypeError::New(env, "data is detached");
    double priority = RequireNumber(info[1], "priority");
    if (priority < 0 || priority > 32767) throw Napi::RangeError::New(env, "priority out of range");
    for (;;) {
      if (mq_send(core->mq, reinterpret_cast<const char*>(data.Data()), data.ByteLength(),
                  static_cast<unsigned>(priority)) == 0) {
        return Napi::Boolean::New(env, true);
      }
      if (errno == EAGAIN) return Napi::Boolean::New(env, false);
      if (errno != EINTR) throw ErrnoError(env, errno, "mq_send", core->name);
    }
  }

  // receive() -> { data, priority } | null when the queue is empty
  Napi::Value Receive(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = Core(env);
    std::vector<char> buf(std::max<size_t>(messageSize_, 1));
    for (;;) {
      unsigned priority = 0;
      ssize_t got = mq_receive(core->mq, buf.data(), buf.size(), &priority);
      if (got >= 0) {
        Napi::Object result = Napi::Object::New(env);
        result.Set("data", Napi::Buffer<char>::Copy(env, buf.data(), static_cast<size_t>(got)));
        result.Set("priority", Napi::Number::New(env, priority));
        return result;
      }
      if (errno == EAGAIN) return env.Null();
      if (errno == EMSGSIZE) {  // the size changed under us (it cannot, but be safe)
        mq_attr attr{};
        if (mq_getattr(core->mq, &attr) == 0 && static_cast<size_t>(attr.mq_msgsize) > buf.size()) {
          messageSize_ = static_cast<size_t>(attr.mq_msgsize);
          buf.resize(messageSize_);
          continue;
        }
      }
      if (errno != EINTR) throw ErrnoError(env, errno, "mq_receive", core->name);
    }
  }

  // pollSync('in' | 'out', timeoutMs) -> 'ok' | 'timed-out'
  Napi::Value PollSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = Core(env);
    short events = ParseEvents(info[0]);
    double timeoutMs = RequireNumber(info[1], "timeoutMs");
    int ready = PollUntil(core->mq, events, DeadlineFromTimeoutMs(timeoutMs), nullptr);
    if (ready < 0) throw ErrnoError(env, -ready, "poll", core->name);
    return Napi::String::New(env, ready == 1 ? "ok" : "timed-out");
  }

  // pollAsync('in' | 'out', timeoutMs, ref, callback) -> waitId
  Napi::Value PollAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    short events = ParseEvents(info[0]);
    double timeoutMs = RequireNumber(info[1], "timeoutMs");
    bool ref = info[2].ToBoolean();
    if (!info[3].IsFunction()) throw Napi::TypeError::New(env, "callback must be a function");
    auto job = std::make_unique<MqPollJob>(Core(env), events);
    uint32_t id = StartWait(env, std::move(job), timeoutMs, info[3].As<Napi::Function>(),
                            env.Undefined(), ref);
    return Napi::Number::New(env, id);
  }

  Napi::Value Attributes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = Core(env);
    mq_attr attr{};
    if (mq_getattr(core->mq, &attr) != 0) throw ErrnoError(env, errno, "mq_getattr", core->name);
    Napi::Object result = Napi::Object::New(env);
    result.Set("maxMessages", static_cast<double>(attr.mq_maxmsg));
    result.Set("messageSize", static_cast<double>(attr.mq_msgsize));
    result.Set("currentMessages", static_cast<double>(attr.mq_curmsgs));
    return result;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    core_.reset();  // mq_close runs once the last pending wait lets go
    return info.Env().Undefined();
  }

  std::shared_ptr<MqCore> core_;
  size_t messageSize_ = 8192;
};

Napi::Value MqUnlink(const Napi::CallbackInfo& info) {
  std::string name = RequireString(info[0], "name");
  if (mq_unlink(name.c_str()) != 0) throw ErrnoError(info.Env(), errno, "mq_unlink", name);
  return info.Env().Undefined();
}

}  // namespace
#endif  // __linux__

void InitPosixMq([[maybe_unused]] Napi::Env env, [[maybe_unused]] Napi::Object exports) {
#if defined(__linux__)
  exports.Set("PosixMqHandle", PosixMqHandle::Define(env));
  exports.Set("mqUnlink", Napi::Function::New(env, MqUnlink, "mqUnlink"));
#endif
}

}  // namespace shmkit
