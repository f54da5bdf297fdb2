#include "core/poll-waiter.h"

#ifdef __linux__
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/deadline.h"

namespace shmkit {

int PollFdUntil(int fd, int16_t events, int64_t deadlineNs, const std::atomic<bool>* cancelled) {
  for (;;) {
    if (cancelled != nullptr && cancelled->load()) return 0;
    int64_t left =
        deadlineNs == kForever ? kForever : std::max<int64_t>(0, deadlineNs - MonotonicNowNs());
    if (cancelled != nullptr) left = std::min(left, kSliceNs);
    timespec ts = ToTimespec(left);
    pollfd pfd{fd, events, 0};
    int ready = ppoll(&pfd, 1, left == kForever ? nullptr : &ts, nullptr);
    if (ready > 0) return (pfd.revents & POLLNVAL) ? -EBADF : 1;
    if (ready < 0 && errno != EINTR) return -errno;
    if (ready == 0 && MonotonicNowNs() >= deadlineNs) return 0;
  }
}

WaitResult PollJob::Run(int64_t deadlineNs, const std::atomic<bool>& cancelled) {
  int ready = PollFdUntil(fd_, events_, deadlineNs, &cancelled);
  if (ready < 0) {
    error = -ready;
    syscall = "poll";
    return WaitResult::kError;
  }
  if (cancelled.load()) return WaitResult::kCancelled;
  return ready == 1 ? WaitResult::kOk : WaitResult::kTimedOut;
}

#ifdef __linux__
namespace {

// Every wait is in `waits_` from Add until the thread delivers it; only the
// thread removes waits, so their pointers stay valid while it sleeps without
// the lock. Add and cancellation write the eventfd (first entry of every
// ppoll), which ends the sleep at once so the list is read again.
class PollWaiters {
 public:
  // Leaked on purpose: the detached thread may outlive static destructors.
  static PollWaiters& Get() {
    static PollWaiters* waiters = new PollWaiters();
    return *waiters;
  }

  int Add(Wait* wait) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (wakeFd_ == -1) {
      wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (wakeFd_ == -1) return errno;
    }
    if (!alive_) {
      int err = SpawnThread(&PollWaiters::ThreadMain, this);
      if (err != 0) return err;
      alive_ = true;
    }
    waits_.push_back(wait);
    Poke();
    work_.notify_one();
    return 0;
  }

  void Interrupt() {
    std::lock_guard<std::mutex> lock(mutex_);
    Poke();
  }

 private:
  // Under mutex_ (wakeFd_ exists once a wait was added).
  void Poke() {
    uint64_t one = 1;
    ssize_t ignored = write(wakeFd_, &one, sizeof one);  // fails only when already 2^64-2
    (void)ignored;
  }

  static void* ThreadMain(void* self) {
    static_cast<PollWaiters*>(self)->Loop();
    return nullptr;
  }

  // Under mutex_: whether `wait` is finished, and how (`*result`).
  static bool Finished(Wait* wait, int64_t now, WaitResult* result) {
    if (wait->cancelled.load()) {
      *result = WaitResult::kCancelled;
    } else if (wait->failed != 0) {
      wait->job->error = wait->failed;
      wait->job->syscall = "poll";
      *result = WaitResult::kError;
    } else if (wait->ready) {
      *result = WaitResult::kOk;
    } else if (now >= wait->deadlineNs) {
      *result = WaitResult::kTimedOut;
    } else {
      return false;
    }
    return true;
  }

  // Under mutex_: takes the finished waits out of the list into `done`.
  void Collect(std::vector<std::pair<Wait*, WaitResult>>* done) {
    int64_t now = MonotonicNowNs();
    size_t kept = 0;
    for (Wait* wait : waits_) {
      WaitResult result;
      if (Finished(wait, now, &result)) {
        done->emplace_back(wait, result);
      } else {
        waits_[kept++] = wait;
      }
    }
    waits_.resize(kept);
  }

  // Under mutex_: one pollfd per distinct descriptor (ppoll refuses more
  // entries than RLIMIT_NOFILE, and several waits may share a queue), the
  // eventfd first. Returns the earliest deadline.
  int64_t Build(std::vector<pollfd>* fds, std::vector<size_t>* entryOf) {
    fds->assign(1, pollfd{wakeFd_, POLLIN, 0});
    entryOf->clear();
    std::unordered_map<int, size_t> entryOfFd;
    int64_t deadline = kForever;
    for (Wait* wait : waits_) {
      auto [it, added] = entryOfFd.emplace(wait->pollFd, fds->size());
      if (added) fds->push_back(pollfd{wait->pollFd, 0, 0});
      (*fds)[it->second].events |= wait->pollEvents;
      entryOf->push_back(it->second);
      deadline = std::min(deadline, wait->deadlineNs);
    }
    return deadline;
  }

  void Loop() {
    std::vector<std::pair<Wait*, WaitResult>> done;
    std::vector<pollfd> fds;
    std::vector<size_t> entryOf;  // waits_[i] is polled by fds[entryOf[i]]
    std::vector<Wait*> sleeping;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      if (waits_.empty() &&
          !work_.wait_for(lock, std::chrono::seconds(10), [this] { return !waits_.empty(); })) {
        alive_ = false;  // idle for 10 s: let the thread go
        return;
      }
      done.clear();
      Collect(&done);
      if (!done.empty()) {
        lock.unlock();
        for (auto& [wait, result] : done) Deliver(wait, result);
        lock.lock();
        continue;
      }
      int64_t deadline = Build(&fds, &entryOf);
      sleeping = waits_;
      lock.unlock();
      int64_t left = deadline == kForever ? 0 : std::max<int64_t>(0, deadline - MonotonicNowNs());
      timespec until = ToTimespec(left);
      int ready = ppoll(fds.data(), fds.size(), deadline == kForever ? nullptr : &until, nullptr);
      int err = ready < 0 ? errno : 0;
      lock.lock();
      uint64_t drained;
      while (read(wakeFd_, &drained, sizeof drained) > 0) {
      }
      for (size_t i = 0; i < sleeping.size(); i++) {
        short revents = fds[entryOf[i]].revents;
        if (err != 0 && err != EINTR) {
          sleeping[i]->failed = err;  // cannot happen with open descriptors; fail rather than spin
        } else if (revents & POLLNVAL) {
          sleeping[i]->failed = EBADF;
        } else if (revents & (sleeping[i]->pollEvents | POLLERR | POLLHUP)) {
          sleeping[i]->ready = true;  // the caller's next try finds out what it is
        }
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable work_;  // the idle thread waits here for waits
  std::vector<Wait*> waits_;
  int wakeFd_ = -1;
  bool alive_ = false;
};

}  // namespace

int AddPollWait(Wait* wait) {
  wait->polled = true;
  return PollWaiters::Get().Add(wait);
}

void InterruptPollWaits() { PollWaiters::Get().Interrupt(); }
#else
int AddPollWait(Wait*) { return ENOSYS; }
void InterruptPollWaits() {}
#endif  // __linux__

}  // namespace shmkit
