// Deadlines on CLOCK_MONOTONIC, so a wall-clock jump never shortens or
// stretches a timeout.
#pragma once

#include <time.h>

#include <cmath>
#include <cstdint>

namespace shmkit {

constexpr int64_t kNsPerMs = 1000000;
constexpr int64_t kNsPerSec = 1000000000;
constexpr int64_t kForever = INT64_MAX;

inline int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

// timeoutMs < 0 or infinite means "no deadline".
inline int64_t DeadlineFromTimeoutMs(double timeoutMs) {
  if (timeoutMs < 0 || std::isinf(timeoutMs)) return kForever;
  double ns = timeoutMs * static_cast<double>(kNsPerMs);
  int64_t now = MonotonicNowNs();
  if (ns >= static_cast<double>(kForever - now)) return kForever;
  return now + static_cast<int64_t>(ns);
}

inline timespec ToTimespec(int64_t ns) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / kNsPerSec);
  ts.tv_nsec = static_cast<long>(ns % kNsPerSec);
  return ts;
}

}  // namespace shmkit
