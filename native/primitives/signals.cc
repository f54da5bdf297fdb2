#include "primitives/signals.h"

#if defined(__linux__)
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "core/addon.h"
#include "core/deadline.h"
#include "core/errors.h"
#include "core/poll-waiter.h"
#include "core/waiter.h"
#endif

namespace shmkit {

#if defined(__linux__)
namespace {

// How it works (docs/messaging.md has the long version):
// - Handler() runs in signal context on whichever thread the kernel picks. It
//   only does async-signal-safe things: one write(2) of a fixed-size SignalRecord
//   to a non-blocking pipe (atomic: smaller than PIPE_BUF), then a call of
//   the handler that was installed before ours (libuv's, which feeds
//   process.on listeners), so both see the signal.
// - Order: the kernel queues real-time signals in order, but two threads
//   taking two of them at once could write them out of order. So when a
//   signal is first listened to, every thread of the process except our own
//   "catcher" thread is sent a probe (rt_tgsigqueueinfo with a cookie) whose
//   handler blocks that signal in the thread's mask (through uc_sigmask, on
//   return). From then on only the catcher thread takes the signal, one at a
//   time, in queue order. Threads created later inherit the blocked mask.
//   After unsubscribe the catcher still takes the signal and runs whatever
//   disposition was restored.
// - The JS thread waits for the pipe on shmkit's poll thread (poll-waiter.h),
//   then drains it without blocking.
constexpr int kProbeCookie = 0x50524f42;  // "PROB"

int gPipe[2] = {-1, -1};
std::atomic<uint32_t> gDropped{0};
struct sigaction gPrevious[_NSIG];
std::atomic<bool> gInstalled[_NSIG];
std::atomic<bool> gChain[_NSIG];
// Probes sent and not yet handled, per signal: the previous disposition may
// only come back once none is left (a leftover probe meeting SIG_DFL would
// kill the process).
std::atomic<int> gProbesOut[_NSIG];
// Bumped by every install and restore of a signal: a deferred restore
// (DeferRestore) goes ahead only if nothing happened to its signal since.
std::atomic<uint32_t> gGeneration[_NSIG];
// Node's own SIGUSR1 handler at load time (it starts the inspector): never chained to.
void* gNodeUsr1 = nullptr;
pid_t gCatcherTid = 0;
std::mutex gMutex;  // install/restore, JS thread(s) only

void* HandlerAddress(const struct sigaction& action) {
  return (action.sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(action.sa_sigaction)
                                        : reinterpret_cast<void*>(action.sa_handler);
}

void Handler(int signo, siginfo_t* info, void* context) {
  int savedErrno = errno;
  if (info != nullptr && info->si_code == SI_QUEUE && info->si_value.sival_int == kProbeCookie &&
      info->si_pid == getpid()) {
    // A probe: from now on this thread leaves `signo` to the catcher thread.
    if (context != nullptr) sigaddset(&static_cast<ucontext_t*>(context)->uc_sigmask, signo);
    gProbesOut[signo].fetch_sub(1);
    errno = savedErrno;
    return;
  }
  SignalRecord record{};
  record.signo = signo;
  if (info != nullptr) {
    record.code = info->si_code;
    record.pid = info->si_pid;
    record.uid = info->si_uid;
    record.value = info->si_value.sival_int;
    record.status = info->si_status;
  }
  if (write(gPipe[1], &record, sizeof(record)) != static_cast<ssize_t>(sizeof(record))) {
    gDropped.fetch_add(1, std::memory_order_relaxed);
  }
  if (gChain[signo].load(std::memory_order_relaxed)) {
    const struct sigaction& prev = gPrevious[signo];
    if (prev.sa_flags & SA_SIGINFO) {
      if (prev.sa_sigaction != nullptr) prev.sa_sigaction(signo, info, context);
    } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN &&
               prev.sa_handler != nullptr) {
      prev.sa_handler(signo);
    }
  }
  errno = savedErrno;
}

void* CatcherMain(void*) {
  gCatcherTid = static_cast<pid_t>(syscall(SYS_gettid));
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  for (;;) pause();  // signals are handled here; nothing else to do
  return nullptr;
}

// The pipe and the catcher thread, once per process. Returns 0 or an errno.
int Setup() {
  static int result = -1;
  if (result != -1) return result;
  if (pipe2(gPipe, O_NONBLOCK | O_CLOEXEC) != 0) return result = errno;
  fcntl(gPipe[1], F_SETPIPE_SZ, 1 << 20);  // room for ~43,000 records; best effort
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  int err = pthread_create(&thread, &attr, CatcherMain, nullptr);
  pthread_attr_destroy(&attr);
  if (err != 0) return result = err;
  while (__atomic_load_n(&gCatcherTid, __ATOMIC_SEQ_CST) == 0) sched_yield();
  return result = 0;
}

// Whether thread `tid` needs a probe for `signo`: it neither blocks it yet
// (SigBlk in /proc/self/task/TID/status) nor has one pending (SigPnd: a
// thread that has not run since an earlier probe, e.g. one inside a long
// write(2); a second probe of a standard signal would merge with the first
// and never be handled, so it is not sent).
bool NeedsProbe(pid_t tid, int signo) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/task/%d/status", static_cast<int>(tid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // gone
  char text[4096];
  ssize_t got = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (got <= 0) return false;
  text[got] = '\0';
  for (const char* field : {"SigPnd:", "SigBlk:"}) {
    const char* line = std::strstr(text, field);
    if (line == nullptr) continue;
    unsigned long long mask = std::strtoull(line + std::strlen(field), nullptr, 16);
    if (((mask >> (signo - 1)) & 1ULL) != 0) return false;
  }
  return true;
}

// How long install and restore wait, on the JS thread, for probes to be
// handled: running threads take theirs within microseconds; a thread that
// cannot run now (stopped, or inside a long uninterruptible call) must not
// hold the event loop.
constexpr int64_t kProbeWaitNs = 5 * kNsPerMs;
// How long a deferred restore (below) waits for such a thread.
constexpr int64_t kDeferredRestoreNs = 60 * kNsPerSec;

// Waits (at most `limitNs`) until every probe of `signo` has been handled;
// gives up early, with false, once `generation` is no longer the signal's.
bool AwaitProbes(int signo, int64_t limitNs, uint32_t generation) {
  int64_t until = MonotonicNowNs() + limitNs;
  while (gProbesOut[signo].load() > 0) {
    if (MonotonicNowNs() >= until || gGeneration[signo].load() != generation) return false;
    timespec ts = ToTimespec(100 * 1000);
    nanosleep(&ts, nullptr);
  }
  return true;
}

// Sends a probe for `signo` to every thread but the catcher that does not
// block it yet, and waits briefly for them to be handled.
void ProbeThreads(int signo) {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return;
  pid_t self = getpid();
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    auto tid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (tid == gCatcherTid || !NeedsProbe(tid, signo)) continue;
    siginfo_t info;
    std::memset(&info, 0, sizeof(info));
    info.si_signo = signo;
    info.si_code = SI_QUEUE;
    info.si_pid = self;
    info.si_uid = getuid();
    info.si_value.sival_int = kProbeCookie;
    gProbesOut[signo].fetch_add(1);
    if (syscall(SYS_rt_tgsigqueueinfo, self, tid, signo, &info) != 0)
      gProbesOut[signo].fetch_sub(1);
  }
  closedir(dir);
  // Until a thread takes its probe it may still take the signal itself:
  // nothing is lost, only the order of two signals that arrive together.
  AwaitProbes(signo, kProbeWaitNs, gGeneration[signo].load());
}

// Under gMutex: puts the previous disposition back if ours is still in place
// and no probe is out (a probe meeting SIG_DFL would kill the process).
void PutBackPrevious(int signo) {
  struct sigaction current;
  if (gProbesOut[signo].load() == 0 && sigaction(signo, nullptr, &current) == 0 &&
      HandlerAddress(current) == reinterpret_cast<void*>(Handler)) {
    sigaction(signo, &gPrevious[signo], nullptr);
  }
  gChain[signo].store(false);
}

struct DeferredRestore {
  int signo;
  uint32_t generation;
};

// A restore that found probes out finishes here, off the JS thread, once
// they are handled — unless the signal was listened to again meanwhile.
void* DeferredRestoreMain(void* arg) {
  DeferredRestore job = *static_cast<DeferredRestore*>(arg);
  delete static_cast<DeferredRestore*>(arg);
  if (!AwaitProbes(job.signo, kDeferredRestoreNs, job.generation)) return nullptr;
  std::lock_guard<std::mutex> lock(gMutex);
  if (gGeneration[job.signo].load() == job.generation) PutBackPrevious(job.signo);
  return nullptr;
}

// Under gMutex: hands the restore of `signo` to a thread of its own. Should
// none start, ours stays in place (it only records once nobody listens).
void DeferRestore(int signo) {
  auto* job = new DeferredRestore{signo, gGeneration[signo].load()};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  if (pthread_create(&thread, &attr, DeferredRestoreMain, job) != 0) delete job;
  pthread_attr_destroy(&attr);
}

int RequireSigno(const Napi::Value& value) {
  double signo = RequireNumber(value, "signal");
  if (signo < 1 || signo >= _NSIG) throw ArgRangeError(value.Env(), "signal out of range");
  return static_cast<int>(signo);
}

// signals.install(signo, chain): our handler in, the previous one kept for chaining.
Napi::Value SigInstall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int signo = RequireSigno(info[0]);
  bool chain = info[1].ToBoolean();
  std::lock_guard<std::mutex> lock(gMutex);
  int err = Setup();
  if (err != 0) throw ErrnoError(env, err, "pipe2", "shmkit signals");
  if (gInstalled[signo].load()) return env.Undefined();
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_sigaction = Handler;
  action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  struct sigaction previous;
  if (sigaction(signo, &action, &previous) != 0) {
    throw ErrnoError(env, errno, "sigaction", std::to_string(signo));
  }
  // Ours may still be in place from an earlier subscription (see SigRestore):
  // then the disposition saved then is still the one to chain to.
  if (HandlerAddress(previous) != reinterpret_cast<void*>(Handler)) gPrevious[signo] = previous;
  // Never chained to: Node's SIGUSR1 handler (it starts the inspector), and
  // one-shot SA_RESETHAND handlers such as Node's SIGINT/SIGTERM one, which
  // resets the terminal and re-raises the signal expecting SIG_DFL to kill
  // the process: with ours in place it would loop instead.
  bool isNodeUsr1 = signo == SIGUSR1 && HandlerAddress(gPrevious[signo]) == gNodeUsr1;
  bool oneShot = (gPrevious[signo].sa_flags & SA_RESETHAND) != 0;
  gChain[signo].store(chain && !isNodeUsr1 && !oneShot);
  gInstalled[signo].store(true);
  gGeneration[signo].fetch_add(1);
  ProbeThreads(signo);
  return env.Undefined();
}

// signals.restore(signo): puts the previous disposition back, if ours is still in place.
Napi::Value SigRestore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int signo = RequireSigno(info[0]);
  std::lock_guard<std::mutex> lock(gMutex);
  if (!gInstalled[signo].load()) return env.Undefined();
  gInstalled[signo].store(false);
  uint32_t generation = gGeneration[signo].fetch_add(1) + 1;
  // A probe still out must meet our handler, not SIG_DFL: if one is not
  // handled at once, the previous disposition comes back later, from a
  // thread of its own; meanwhile ours records and still chains.
  if (AwaitProbes(signo, kProbeWaitNs, generation)) {
    PutBackPrevious(signo);
  } else {
    DeferRestore(signo);
  }
  return env.Undefined();
}

// signals.drain() -> Int32Array of records (6 ints each) read without blocking.
Napi::Value SigDrain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  constexpr size_t kMax = 4096;
  std::vector<SignalRecord>& records = GetAddonData(env).signals.drained;
  records.resize(kMax);
  size_t count = 0;
  if (gPipe[0] != -1) {
    while (count < kMax) {
      ssize_t got = read(gPipe[0], &records[count], (kMax - count) * sizeof(SignalRecord));
      if (got > 0) {
        count += static_cast<size_t>(got) / sizeof(SignalRecord);  // writes are whole records
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      break;
    }
  }
  auto out = Napi::Int32Array::New(env, count * 6);
  // An empty Int32Array has no data pointer: memcpy to null is undefined, even of 0 bytes.
  if (count > 0) std::memcpy(out.Data(), records.data(), count * sizeof(SignalRecord));
  return out;
}

Napi::Value SigDropped(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), gDropped.load());
}

// The wait for records in the self-pipe. Async waits share the poll thread,
// so the one wait per environment (re-armed from a callback, where a refusal
// could only become an uncaught exception) never meets the blocking pool's
// limit. The pipe is never closed.
class PipeWaitJob : public PollJob {
 public:
  PipeWaitJob() : PollJob(gPipe[0], POLLIN, "shmkit signals") {}
};

// signals.waitAsync(timeoutMs, ref, callback) -> waitId: resolves 'ok' once the
// pipe has records to drain.
Napi::Value SigWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AsyncArgs args = RequireAsyncArgs(info, 0);
  {
    std::lock_guard<std::mutex> lock(gMutex);
    int err = Setup();
    if (err != 0) throw ErrnoError(env, err, "pipe2", "shmkit signals");
  }
  return StartWait(env, std::make_unique<PipeWaitJob>(), args, env.Undefined());
}

// signals.send(pid, signo, value | undefined): kill(2), or sigqueue(3) with a value.
Napi::Value SigSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double pid = RequireNumber(info[0], "pid");
  double signo = RequireNumber(info[1], "signal");
  if (signo < 0 || signo >= _NSIG) throw ArgRangeError(env, "signal out of range");
  if (pid < -2147483647.0 || pid > 2147483647.0) throw ArgRangeError(env, "pid out of range");
  std::string subject = "pid " + std::to_string(static_cast<long long>(pid));
  if (info[2].IsUndefined()) {
    if (kill(static_cast<pid_t>(pid), static_cast<int>(signo)) != 0) {
      throw ErrnoError(env, errno, "kill", subject);
    }
  } else {
    double value = RequireNumber(info[2], "value");
    sigval sv;
    std::memset(&sv, 0, sizeof(sv));
    sv.sival_int = static_cast<int>(value);
    if (sigqueue(static_cast<pid_t>(pid), static_cast<int>(signo), sv) != 0) {
      throw ErrnoError(env, errno, "sigqueue", subject);
    }
  }
  return env.Undefined();
}

}  // namespace
#endif  // __linux__

void InitSignals([[maybe_unused]] Napi::Env env, [[maybe_unused]] Napi::Object exports) {
#if defined(__linux__)
  {
    std::lock_guard<std::mutex> lock(gMutex);
    static bool recorded = false;
    if (!recorded) {
      struct sigaction current;
      if (sigaction(SIGUSR1, nullptr, &current) == 0) {
        void* address = HandlerAddress(current);
        if (address != reinterpret_cast<void*>(SIG_DFL) &&
            address != reinterpret_cast<void*>(SIG_IGN)) {
          gNodeUsr1 = address;
        }
      }
      recorded = true;
    }
  }
  Napi::Object group = ExportGroup(env, exports, "signals",
                                   {
                                       {"install", SigInstall},
                                       {"restore", SigRestore},
                                       {"drain", SigDrain},
                                       {"dropped", SigDropped},
                                       {"waitAsync", SigWaitAsync},
                                       {"send", SigSend},
                                   });
  Napi::Object constants = Napi::Object::New(env);
  // Each constant's JS name is its C name.
#define SHMKIT_CONSTANT(name) constants.Set(#name, static_cast<int>(name))
  SHMKIT_CONSTANT(SIGRTMIN);
  SHMKIT_CONSTANT(SIGRTMAX);
  SHMKIT_CONSTANT(SI_USER);
  SHMKIT_CONSTANT(SI_KERNEL);
  SHMKIT_CONSTANT(SI_QUEUE);
  SHMKIT_CONSTANT(SI_TIMER);
  SHMKIT_CONSTANT(SI_MESGQ);
  SHMKIT_CONSTANT(SI_ASYNCIO);
  SHMKIT_CONSTANT(SI_SIGIO);
  SHMKIT_CONSTANT(SI_TKILL);
#undef SHMKIT_CONSTANT
  group.Set("constants", constants);
#endif
}

}  // namespace shmkit
