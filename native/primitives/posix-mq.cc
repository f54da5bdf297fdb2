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

#include "core/addon.h"
#include "core/deadline.h"
#include "core/errors.h"
#include "core/handle.h"
#include "core/open_mode.h"
#include "core/poll-waiter.h"
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

// A wait for the queue to have a message ('in') or room ('out'); core_
// keeps the descriptor open while it lasts.
class MqPollJob : public PollJob {
 public:
  MqPollJob(std::shared_ptr<MqCore> core, int16_t events)
      : PollJob(core->mq, events, core->name), core_(std::move(core)) {}

 private:
  std::shared_ptr<MqCore> core_;
};

short ParseEvents(const Napi::Value& value) {
  std::string text = RequireString(value, "events");
  if (text == "in") return POLLIN;
  if (text == "out") return POLLOUT;
  throw ArgValueError(value.Env(), "events must be 'in' or 'out'");
}

// mq_close runs once the last pending wait lets go of the MqCore.
class PosixMqHandle : public CoreHandle<PosixMqHandle, MqCore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PosixMqHandle",
                       {
                           InstanceMethod<&PosixMqHandle::Send>("send"),
                           InstanceMethod<&PosixMqHandle::Receive>("receive"),
                           InstanceMethod<&PosixMqHandle::PollSync>("pollSync"),
                           InstanceMethod<&PosixMqHandle::PollAsync>("pollAsync"),
                           InstanceMethod<&PosixMqHandle::Attributes>("attributes"),
                           CloseMethod(),
                       });
  }

  // new PosixMqHandle(name, openMode, mode, maxMessages, messageSize);
  // maxMessages/messageSize 0 = the system defaults.
  explicit PosixMqHandle(const Napi::CallbackInfo& info) : CoreHandle(info, "message queue") {
    Napi::Env env = info.Env();
    OpenArgs args = RequireOpenArgs(info);
    auto maxMessages = static_cast<long>(RequireNumber(info[3], "maxMessages"));
    auto messageSize = static_cast<long>(RequireNumber(info[4], "messageSize"));
    mq_attr attr{};
    attr.mq_maxmsg = maxMessages;
    attr.mq_msgsize = messageSize;
    mq_attr* attrs = maxMessages > 0 && messageSize > 0 ? &attr : nullptr;
    const int flags = O_RDWR | O_NONBLOCK | O_CLOEXEC;
    const char* name = args.name.c_str();
    Opened<mqd_t> opened = OpenNamed(args.openMode, static_cast<mqd_t>(-1), [&](bool create) {
      return create ? mq_open(name, flags | O_CREAT | O_EXCL, args.mode, attrs)
                    : mq_open(name, flags);
    });
    mqd_t mq = opened.handle;
    if (mq == -1) throw ErrnoError(env, errno, "mq_open", args.name);
    auto core = std::make_shared<MqCore>();
    core->mq = mq;
    core->name = args.name;
    Adopt(info, std::move(core), opened.created);
    mq_attr actual{};
    if (mq_getattr(mq, &actual) == 0) messageSize_ = static_cast<size_t>(actual.mq_msgsize);
  }

 private:
  // send(data, priority) -> false if the queue is full
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto core = Core(env);
    auto data = RequireBytes(info[0], "data");
    double priority = RequireNumber(info[1], "priority");
    if (priority < 0 || priority > 32767) throw ArgRangeError(env, "priority out of range");
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
    int ready = PollFdUntil(core->mq, events, DeadlineFromTimeoutMs(timeoutMs), nullptr);
    if (ready < 0) throw ErrnoError(env, -ready, "poll", core->name);
    return Napi::String::New(env, ready == 1 ? "ok" : "timed-out");
  }

  // pollAsync('in' | 'out', timeoutMs, ref, callback) -> waitId
  Napi::Value PollAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    short events = ParseEvents(info[0]);
    AsyncArgs args = RequireAsyncArgs(info, 1);
    return StartWait(env, std::make_unique<MqPollJob>(Core(env), events), args, env.Undefined());
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

  size_t messageSize_ = 8192;
};

Napi::Value MqUnlink(const Napi::CallbackInfo& info) {
  return UnlinkNamed(info, mq_unlink, "mq_unlink");
}

}  // namespace
#endif  // __linux__

void InitPosixMq([[maybe_unused]] Napi::Env env, [[maybe_unused]] Napi::Object exports) {
#if defined(__linux__)
  Napi::Object group = ExportGroup(env, exports, "posixMq", {{"unlink", MqUnlink}});
  group.Set("Handle", PosixMqHandle::Define(env));
#endif
}

}  // namespace shmkit
