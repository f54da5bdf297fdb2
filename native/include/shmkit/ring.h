/*
 * shmkit/ring.h — produce or consume a shmkit ring buffer from C.
 *
 * A self-contained C11 header (everything is static inline; Linux only; link
 * with -lrt on old glibc). It implements version 1 of the shared-memory ring
 * format described in docs/ring-format.md; the TypeScript side of shmkit
 * (lib/structures/ring/format.ts, lib/structures/ring/ring-buffer.ts) speaks the same format, so a
 * C process and a Node process can share one ring.
 *
 * Include this header before any system header, or compile with GNU
 * extensions (gcc's default -std=gnu11): it needs syscall(2) and kill(2).
 *
 * Return convention: 0 on success, a negative errno (-EAGAIN, -ETIMEDOUT,
 * -EMSGSIZE, ...) or one of the negative SHMKIT_RING_E* codes below.
 * shmkit_ring_strerror() turns any of them into text.
 *
 *   shmkit_ring ring;
 *   int rc = shmkit_ring_open("/myring", &ring);
 *   if (rc < 0) { fprintf(stderr, "%s\n", shmkit_ring_strerror(rc)); exit(1); }
 *   rc = shmkit_ring_push(&ring, "hello", 5, -1);  // blocks while full
 *   shmkit_ring_close(&ring);
 */
#ifndef SHMKIT_RING_H
#define SHMKIT_RING_H

#if !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE 1 /* syscall(), kill(); only effective if included first */
#endif

#ifdef __cplusplus
#error "shmkit/ring.h is C11 (<stdatomic.h>, _Atomic); compile it as C, or wrap it in a C file"
#endif

#ifndef __linux__
#error "shmkit/ring.h needs Linux (futex)"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#if defined(__GLIBC__) && !defined(__USE_MISC)
#error \
    "shmkit/ring.h needs syscall() and kill(): define _DEFAULT_SOURCE (or _GNU_SOURCE) before any #include, or compile with -std=gnu11"
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the shmkit ring format is little-endian; big-endian hosts are not supported"
#endif

/* ---- Format constants (mirror lib/structures/ring/format.ts; the format is public) ---- */

#define SHMKIT_RING_MAGIC 0x52484d53u /* bytes 'S','M','H','R' */
#define SHMKIT_RING_VERSION 1u
#define SHMKIT_RING_HEADER_BYTES 512u
#define SHMKIT_RING_READY 1u

#define SHMKIT_RING_FLAG_MULTI_PRODUCER 0x1u
#define SHMKIT_RING_FLAG_MULTI_CONSUMER 0x2u
#define SHMKIT_RING_KNOWN_FLAGS 0x3u

#define SHMKIT_RING_FRAME_HEADER_BYTES 8u
#define SHMKIT_RING_FRAME_ALIGN 8u
#define SHMKIT_RING_WRAP_MARKER 0xffffffffu

#define SHMKIT_RING_MIN_CAPACITY 64u
#define SHMKIT_RING_MAX_CAPACITY (1u << 30)

/* Byte offsets of the header fields. u32 unless marked f64 (IEEE double). */
#define SHMKIT_RING_OFF_MAGIC 0
#define SHMKIT_RING_OFF_VERSION 4
#define SHMKIT_RING_OFF_FLAGS 8
#define SHMKIT_RING_OFF_HEADER_BYTES 12
#define SHMKIT_RING_OFF_CAPACITY 16
#define SHMKIT_RING_OFF_READY 20
#define SHMKIT_RING_OFF_FINGERPRINT 24
#define SHMKIT_RING_OFF_CREATOR_PID 28
#define SHMKIT_RING_OFF_TAIL 64
#define SHMKIT_RING_OFF_PUSHED_MESSAGES 72  /* f64 */
#define SHMKIT_RING_OFF_PUSHED_BYTES 80     /* f64 */
#define SHMKIT_RING_OFF_HIGH_WATER_BYTES 88 /* f64 */
#define SHMKIT_RING_OFF_HEAD 128
#define SHMKIT_RING_OFF_POPPED_MESSAGES 136 /* f64 */
#define SHMKIT_RING_OFF_POPPED_BYTES 144    /* f64 */
#define SHMKIT_RING_OFF_PRODUCER_LOCK 192
#define SHMKIT_RING_OFF_PRODUCER_LOCK_OWNER 200 /* u64 owner record (optional, see below) */
#define SHMKIT_RING_OFF_CONSUMER_LOCK 256
#define SHMKIT_RING_OFF_CONSUMER_LOCK_OWNER 264 /* u64 owner record of the consumer lock */
#define SHMKIT_RING_OFF_CONSUMER_SLEEPING 320
#define SHMKIT_RING_OFF_CONSUMER_PARKS 328 /* f64 */
#define SHMKIT_RING_OFF_CONSUMER_WAKES 336 /* f64: wakes sent to consumers */
#define SHMKIT_RING_OFF_PRODUCER_SLEEPING 384
#define SHMKIT_RING_OFF_PRODUCER_PARKS 392  /* f64 */
#define SHMKIT_RING_OFF_PRODUCER_WAKES 400  /* f64: wakes sent to producers */
#define SHMKIT_RING_OFF_LOCK_RECOVERIES 448 /* f64: locks taken over from a dead owner */

/* Lock word: owner pid in bits 0..29, bit 31 set while someone sleeps on it. */
#define SHMKIT_RING_LOCK_OWNER_MASK 0x3fffffffu
#define SHMKIT_RING_LOCK_WAITERS 0x80000000u
/* Owner record, 8 bytes after a lock word: a u64 stored and loaded whole,
 * low 32 bits the owner's pid, high 32 bits the low 32 bits of its start
 * time (/proc/PID/stat starttime, clock ticks since boot); 0 = unknown.
 * Optional in version 1 (readers that ignore it stay correct): it tells a
 * dead owner from a live process that got its pid. */
#define SHMKIT_RING_LOCK_OWNER_RECORD_DELTA 8
/* A lock sleeper wakes at least this often to check that the owner lives. */
#define SHMKIT_RING_LOCK_SLICE_NS 50000000LL

/* ---- Result codes beyond errno (errno values stay below 4096 on Linux) ---- */

#define SHMKIT_RING_OWNER_DIED 1       /* lock acquired from a dead owner */
#define SHMKIT_RING_EFORMAT (-10001)   /* not a valid ring (open/create arguments) */
#define SHMKIT_RING_ENOTREADY (-10002) /* the creator has not finished the header */
#define SHMKIT_RING_ECORRUPT (-10003)  /* an index or frame in the ring is impossible */
#define SHMKIT_RING_EVERSION (-10004)  /* a ring of another format version */

/* Which side's lock. The value is the lock word's header offset. */
typedef enum {
  SHMKIT_RING_PRODUCER = SHMKIT_RING_OFF_PRODUCER_LOCK,
  SHMKIT_RING_CONSUMER = SHMKIT_RING_OFF_CONSUMER_LOCK
} shmkit_ring_side;

/* A process's handle on a mapped ring. Fields are read-only for callers. */
typedef struct shmkit_ring {
  uint8_t *base;        /* the mapping: header at base, data area at base + 512 */
  uint8_t *data;        /* base + SHMKIT_RING_HEADER_BYTES */
  size_t map_bytes;     /* 512 + capacity */
  uint32_t capacity;    /* validated once at open and never re-read: a peer */
  uint32_t mask;        /* rewriting the header cannot make us overrun */
  uint32_t flags;       /* SHMKIT_RING_FLAG_* */
  uint32_t fingerprint; /* 0 for a plain byte ring; typed queues put a schema hash here */
  uint32_t spin;        /* empty/full polls before parking (default 200; 0 parks at once) */
  uint64_t owner_died;  /* how often this handle took a lock over from a dead owner */
  /* The other side's index as last loaded: a producer's view of head, a
   * consumer's of tail. Each is a bound that only errs on the safe side
   * (less room, fewer messages), so it is reloaded only when it says "no":
   * the other side's cache line then stays out of most pushes and pops. */
  uint32_t head_seen;
  uint32_t tail_seen;
} shmkit_ring;

/* ---- Small helpers ---- */

static inline _Atomic uint32_t *shmkit_ring__u32(const shmkit_ring *r, size_t off) {
  return (_Atomic uint32_t *)(void *)(r->base + off);
}

static inline _Atomic uint64_t *shmkit_ring__u64(const shmkit_ring *r, size_t off) {
  return (_Atomic uint64_t *)(void *)(r->base + off);
}

/* Bytes a frame of `len` payload bytes occupies: header + payload, padded to 8. */
static inline uint32_t shmkit_ring_frame_bytes(uint32_t len) {
  return (SHMKIT_RING_FRAME_HEADER_BYTES + len + SHMKIT_RING_FRAME_ALIGN - 1) &
         ~(SHMKIT_RING_FRAME_ALIGN - 1);
}

static inline uint32_t shmkit_ring_max_payload(const shmkit_ring *r) {
  return r->capacity - SHMKIT_RING_FRAME_HEADER_BYTES;
}

static inline double shmkit_ring__f64_from_bits(uint64_t bits) {
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static inline uint64_t shmkit_ring__bits_from_f64(double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  return bits;
}

/* Reads a stats field (f64). Whole 8-byte loads, so never torn. */
static inline double shmkit_ring_stat(const shmkit_ring *r, size_t off) {
  return shmkit_ring__f64_from_bits(
      atomic_load_explicit(shmkit_ring__u64(r, off), memory_order_relaxed));
}

/* A stat only one writer updates (its side's single owner, or the lock holder). */
static inline void shmkit_ring__stat_set(shmkit_ring *r, size_t off, double v) {
  atomic_store_explicit(shmkit_ring__u64(r, off), shmkit_ring__bits_from_f64(v),
                        memory_order_relaxed);
}

/* Park/wake counters can be bumped by several processes at once (parkers do
 * not hold the lock), so they are added with a CAS loop on the bits. */
static inline void shmkit_ring__stat_add_shared(shmkit_ring *r, size_t off, double d) {
  _Atomic uint64_t *p = shmkit_ring__u64(r, off);
  uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(
      p, &old, shmkit_ring__bits_from_f64(shmkit_ring__f64_from_bits(old) + d),
      memory_order_relaxed, memory_order_relaxed)) {
  }
}

static inline int64_t shmkit_ring__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* timeout_ms < 0 means "no deadline", encoded as -1. */
static inline int64_t shmkit_ring__deadline(long timeout_ms) {
  if (timeout_ms < 0) return -1;
  return shmkit_ring__now_ns() + (int64_t)timeout_ms * 1000000LL;
}

static inline void shmkit_ring__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Sleeps while *word == expected, until woken or the CLOCK_MONOTONIC deadline
 * (ns, -1 = none). Shared futex (no FUTEX_PRIVATE_FLAG): the waker is in
 * another process. FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time,
 * so retries after EINTR do not stretch the timeout. Returns 0 or -errno
 * (-EAGAIN: the word already differed, -ETIMEDOUT, -EINTR). */
static inline int shmkit_ring__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                                          int64_t deadline_ns) {
  struct timespec until, *ts = NULL;
  if (deadline_ns >= 0) {
    until.tv_sec = (time_t)(deadline_ns / 1000000000LL);
    until.tv_nsec = (long)(deadline_ns % 1000000000LL);
    ts = &until;
  }
  long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected, ts, NULL,
                    FUTEX_BITSET_MATCH_ANY);
  return rc == 0 ? 0 : -errno;
}

static inline void shmkit_ring__futex_wake(_Atomic uint32_t *word, int count) {
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, count, NULL, NULL, 0);
}

static inline const char *shmkit_ring_strerror(int rc) {
  switch (rc) {
    case 0:
      return "success";
    case SHMKIT_RING_OWNER_DIED:
      return "lock recovered from a dead owner";
    case SHMKIT_RING_EFORMAT:
      return "not a shmkit ring (bad magic, sizes or flags)";
    case SHMKIT_RING_ENOTREADY:
      return "ring header not initialised yet (creator still starting, or died)";
    case SHMKIT_RING_ECORRUPT:
      return "ring is corrupt (impossible head/tail or frame length)";
    case SHMKIT_RING_EVERSION:
      return "ring has an unsupported format version";
    default:
      if (rc == -ETIMEDOUT) return "timed out";
      return rc < 0 ? strerror(-rc) : "unknown result";
  }
}

/* ---- Open, create, close ---- */

static inline int shmkit_ring__is_pow2(uint32_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* Fills a handle for a mapping of `bytes` bytes at `base` (header then data). */
static inline void shmkit_ring__init_handle(shmkit_ring *out, void *base, size_t bytes,
                                            uint32_t capacity, uint32_t flags,
                                            uint32_t fingerprint) {
  out->base = (uint8_t *)base;
  out->data = out->base + SHMKIT_RING_HEADER_BYTES;
  out->map_bytes = bytes;
  out->capacity = capacity;
  out->mask = capacity - 1;
  out->flags = flags;
  out->fingerprint = fingerprint;
  out->spin = 200;
  out->owner_died = 0;
  out->head_seen = 0;
  out->tail_seen = 0;
}

/* Maps `fd`, whose header must be complete, after checking everything a
 * reader relies on. Reads the header through a 512-byte mapping first, so a
 * lying capacity can never make us map or touch more than the object holds. */
static inline int shmkit_ring__attach(int fd, shmkit_ring *out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  /* Size 0: created, not yet sized (the creator's ftruncate comes next). */
  if (st.st_size == 0) return SHMKIT_RING_ENOTREADY;
  if (st.st_size < (off_t)SHMKIT_RING_HEADER_BYTES) return SHMKIT_RING_EFORMAT;

  void *hdr = mmap(NULL, SHMKIT_RING_HEADER_BYTES, PROT_READ, MAP_SHARED, fd, 0);
  if (hdr == MAP_FAILED) return -errno;
  const uint32_t *w = (const uint32_t *)hdr;
  /* ready is stored last (release) by the creator: read it first (acquire);
   * every other header field is only meaningful once it is 1. */
  uint32_t ready = atomic_load_explicit((_Atomic uint32_t *)(void *)&w[5], memory_order_acquire);
  uint32_t magic = w[0], version = w[1], flags = w[2], header_bytes = w[3], capacity = w[4];
  uint32_t fingerprint = w[6];
  munmap(hdr, SHMKIT_RING_HEADER_BYTES);

  if (ready != SHMKIT_RING_READY) {
    /* A half-written header (creator between ftruncate and the ready store)
     * has magic 0 or the right magic; anything else is not ours at all. */
    return (magic == 0 || magic == SHMKIT_RING_MAGIC) && ready == 0 ? SHMKIT_RING_ENOTREADY
                                                                    : SHMKIT_RING_EFORMAT;
  }
  if (magic != SHMKIT_RING_MAGIC) return SHMKIT_RING_EFORMAT;
  if (version != SHMKIT_RING_VERSION) return SHMKIT_RING_EVERSION;
  if (header_bytes != SHMKIT_RING_HEADER_BYTES) return SHMKIT_RING_EFORMAT;
  if (!shmkit_ring__is_pow2(capacity) || capacity < SHMKIT_RING_MIN_CAPACITY ||
      capacity > SHMKIT_RING_MAX_CAPACITY)
    return SHMKIT_RING_EFORMAT;
  if ((uint64_t)SHMKIT_RING_HEADER_BYTES + capacity > (uint64_t)st.st_size)
    return SHMKIT_RING_EFORMAT;
  if (flags & ~SHMKIT_RING_KNOWN_FLAGS) return SHMKIT_RING_EFORMAT;

  size_t bytes = (size_t)SHMKIT_RING_HEADER_BYTES + capacity;
  void *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return -errno;
  shmkit_ring__init_handle(out, base, bytes, capacity, flags, fingerprint);
  return 0;
}

/* Opens an existing ring. Fails with -ENOENT if there is none, with
 * SHMKIT_RING_ENOTREADY while its creator is still writing the header, and
 * with SHMKIT_RING_EFORMAT / _EVERSION if the object is not a ring we read. */
static inline int shmkit_ring_open(const char *name, shmkit_ring *out) {
  int fd = shm_open(name, O_RDWR, 0);
  if (fd < 0) return -errno;
  int rc = shmkit_ring__attach(fd, out);
  close(fd); /* the mapping keeps the object alive */
  return rc;
}

/* Like shmkit_ring_open, but waits up to timeout_ms (< 0: forever) while the
 * ring does not exist yet or its creator has not stored `ready`. */
static inline int shmkit_ring_open_wait(const char *name, long timeout_ms, shmkit_ring *out) {
  int64_t deadline = shmkit_ring__deadline(timeout_ms);
  for (;;) {
    int rc = shmkit_ring_open(name, out);
    if (rc != -ENOENT && rc != SHMKIT_RING_ENOTREADY) return rc;
    if (deadline >= 0 && shmkit_ring__now_ns() >= deadline) return rc;
    /* Creation takes microseconds; polling every millisecond is plenty and
     * needs no mapping (the object may be shorter than a header yet). */
    struct timespec ms = {0, 1000000L};
    nanosleep(&ms, NULL);
  }
}

/* Creates a new ring (O_EXCL: fails with -EEXIST if the name is taken), with
 * a fingerprint for typed queues (0 for a plain byte ring). */
static inline int shmkit_ring_create_ex(const char *name, uint32_t capacity, uint32_t flags,
                                        uint32_t fingerprint, mode_t mode, shmkit_ring *out) {
  if (!shmkit_ring__is_pow2(capacity) || capacity < SHMKIT_RING_MIN_CAPACITY ||
      capacity > SHMKIT_RING_MAX_CAPACITY || (flags & ~SHMKIT_RING_KNOWN_FLAGS))
    return -EINVAL;
  int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, mode);
  if (fd < 0) return -errno;
  size_t bytes = (size_t)SHMKIT_RING_HEADER_BYTES + capacity;
  int rc = 0;
  /* ftruncate zero-fills: head = tail = 0, no waiters, free locks, stats 0. */
  if (ftruncate(fd, (off_t)bytes) < 0) rc = -errno;
  void *base = MAP_FAILED;
  if (rc == 0) {
    base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) rc = -errno;
  }
  close(fd);
  if (rc != 0) {
    shm_unlink(name); /* we made the name: do not leave a half-made object */
    return rc;
  }
  shmkit_ring__init_handle(out, base, bytes, capacity, flags, fingerprint);

  atomic_store_explicit(shmkit_ring__u32(out, SHMKIT_RING_OFF_MAGIC), SHMKIT_RING_MAGIC,
                        memory_order_relaxed);
  atomic_store_explicit(shmkit_ring__u32(out, SHMKIT_RING_OFF_VERSION), SHMKIT_RING_VERSION,
                        memory_order_relaxed);
  atomic_store_explicit(shmkit_ring__u32(out, SHMKIT_RING_OFF_FLAGS), flags, memory_order_relaxed);
  atomic_store_explicit(shmkit_ring__u32(out, SHMKIT_RING_OFF_HEADER_BYTES),
                        SHMKIT_RING_HEADER_BYTES, memory_order_relaxed);
  atomic_store_explicit(shmkit_ring__u32(out, SHMKIT_RING_OFF_CAPACITY), capacity,
                        memory_order_relaxed);
  atomic_store_explicit(shmkit_ring__u32(out, SHMKIT_RING_OFF_FINGERPRINT), fingerprint,
                        memory_order_relaxed);
  atomic_store_explicit(shmkit_ring__u32(out, SHMKIT_RING_OFF_CREATOR_PID), (uint32_t)getpid(),
                        memory_order_relaxed);
  /* Last, with release ordering: whoever reads ready == 1 (acquire) sees
   * every field above. Then wake anyone sleeping on the ready word. */
  atomic_store_explicit(shmkit_ring__u32(out, SHMKIT_RING_OFF_READY), SHMKIT_RING_READY,
                        memory_order_release);
  shmkit_ring__futex_wake(shmkit_ring__u32(out, SHMKIT_RING_OFF_READY), INT_MAX);
  return 0;
}

static inline int shmkit_ring_create(const char *name, uint32_t capacity, uint32_t flags,
                                     mode_t mode, shmkit_ring *out) {
  return shmkit_ring_create_ex(name, capacity, flags, 0, mode, out);
}

/* Unmaps this process's view. Does not unlink the name (see shm_unlink). */
static inline void shmkit_ring_close(shmkit_ring *r) {
  if (r->base) munmap(r->base, r->map_bytes);
  r->base = r->data = NULL;
  r->map_bytes = 0;
}

static inline int shmkit_ring_unlink(const char *name) {
  return shm_unlink(name) == 0 ? 0 : -errno;
}

/* Bytes currently queued (frames and wrap markers), as a snapshot. */
static inline uint32_t shmkit_ring_used(const shmkit_ring *r) {
  uint32_t tail =
      atomic_load_explicit(shmkit_ring__u32(r, SHMKIT_RING_OFF_TAIL), memory_order_acquire);
  uint32_t head =
      atomic_load_explicit(shmkit_ring__u32(r, SHMKIT_RING_OFF_HEAD), memory_order_acquire);
  return tail - head;
}

/* ---- The robust process-shared lock (multi-producer / multi-consumer rings) ---- */

/* Reads /proc/<pid>/stat (pid 0: /proc/self/stat) into buf and returns the
 * text after "(comm) ", which starts with the state letter; NULL if there is
 * no such file. comm may hold ')' itself, so the last one ends it. */
static inline const char *shmkit_ring__proc_stat(uint32_t pid, char *buf, size_t size) {
  char path[32];
  if (pid == 0) {
    memcpy(path, "/proc/self/stat", 16);
  } else {
    int n = 0;
    unsigned p = pid;
    char digits[12];
    do digits[n++] = (char)('0' + p % 10);
    while ((p /= 10) != 0);
    memcpy(path, "/proc/", 6);
    for (int i = 0; i < n; i++) path[6 + i] = digits[n - 1 - i];
    memcpy(path + 6 + n, "/stat", 6);
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  ssize_t got = read(fd, buf, size - 1);
  close(fd);
  if (got <= 0) return NULL;
  buf[got] = 0;
  char *close_paren = strrchr(buf, ')');
  return close_paren && close_paren[1] == ' ' ? close_paren + 2 : NULL;
}

/* Whether pid is a zombie: dead, but not yet reaped by its parent, so kill()
 * still finds it (e.g. the locker's own child, exited holding the lock). */
static inline int shmkit_ring__pid_zombie(uint32_t pid) {
  char buf[512];
  const char *rest = shmkit_ring__proc_stat(pid, buf, sizeof buf);
  return rest && rest[0] == 'Z';
}

/* The start time of pid (0: this process) in clock ticks since boot, the
 * starttime field (22) of /proc/PID/stat, into *ticks; 0 if /proc cannot
 * tell (no such process, a zombie, no /proc), 1 if it did. */
static inline int shmkit_ring__start_ticks(uint32_t pid, uint64_t *ticks) {
  char buf[512];
  const char *p = shmkit_ring__proc_stat(pid, buf, sizeof buf);
  if (!p || p[0] == 'Z' || p[0] == 'X' || p[0] == 'x') return 0;
  for (int field = 3; field < 22; field++) { /* p is at field 3 (state) */
    p = strchr(p, ' ');
    if (!p) return 0;
    p++;
  }
  if (*p < '0' || *p > '9') return 0;
  uint64_t v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
  *ticks = v;
  return 1;
}

/* An owner record: pid | (start ticks mod 2^32) << 32. */
static inline uint64_t shmkit_ring__owner_record(uint32_t pid, uint64_t ticks) {
  return (uint64_t)pid | ((ticks & 0xffffffffu) << 32);
}

/* This process's owner record, read from /proc once per process (again after
 * a fork: the child is another process), so an uncontended lock never reads
 * /proc. 0 when /proc cannot tell. */
static inline uint64_t shmkit_ring__own_record(uint32_t me) {
  static _Atomic uint64_t cached_record;
  static _Atomic uint32_t cached_pid; /* stored after cached_record */
  if (atomic_load(&cached_pid) == me) return atomic_load(&cached_record);
  uint64_t ticks;
  uint64_t record = shmkit_ring__start_ticks(0, &ticks) ? shmkit_ring__owner_record(me, ticks) : 0;
  atomic_store(&cached_record, record);
  atomic_store(&cached_pid, me);
  return record;
}

static inline _Atomic uint64_t *shmkit_ring__owner_slot(shmkit_ring *r, shmkit_ring_side side) {
  return shmkit_ring__u64(r, (size_t)side + SHMKIT_RING_LOCK_OWNER_RECORD_DELTA);
}

/* The owner pid is alive; whether the lock's record shows that the process
 * that locked is another one, gone since (its pid reused). Only a record
 * naming that pid counts (0, or another pid, says nothing: a peer that
 * writes no records, or a locker between its CAS and its store), and it must
 * still be there after /proc was read: then its writer held the lock all
 * along rather than unlocking and exiting in between. */
static inline int shmkit_ring__record_says_gone(shmkit_ring *r, shmkit_ring_side side,
                                                uint32_t owner) {
  _Atomic uint64_t *slot = shmkit_ring__owner_slot(r, side);
  uint64_t record = atomic_load(slot);
  if (record == 0 || (uint32_t)record != owner) return 0;
  uint64_t ticks;
  if (!shmkit_ring__start_ticks(owner, &ticks)) return 0; /* cannot tell, or just died */
  if ((ticks & 0xffffffffu) == record >> 32) return 0;
  return atomic_load(slot) == record;
}

/* A pid is dead if kill() says ESRCH (EPERM means it lives under another
 * user), or, when `thorough`, if it is a zombie. Pids are compared within
 * one pid namespace only. */
static inline int shmkit_ring__pid_dead(uint32_t pid, int thorough) {
  if (pid == 0) return 1; /* no owner recorded (e.g. a lone waiters bit) */
  if (kill((pid_t)pid, 0) == -1 && errno == ESRCH) return 1;
  return thorough && shmkit_ring__pid_zombie(pid);
}

/* Takes a side's lock, waiting until deadline_ns (-1: forever; 0 or any past
 * time: one attempt plus a short spin). Returns 0, SHMKIT_RING_OWNER_DIED
 * (acquired; the previous owner died holding it), -ETIMEDOUT, or -EBUSY for
 * a failed attempt without a deadline in the future. */
static inline int shmkit_ring__lock_until(shmkit_ring *r, shmkit_ring_side side,
                                          int64_t deadline_ns) {
  _Atomic uint32_t *w = shmkit_ring__u32(r, (size_t)side);
  /* getpid() each time rather than cached: a forked child is another owner. */
  uint32_t me = (uint32_t)getpid() & SHMKIT_RING_LOCK_OWNER_MASK;
  /* After each CAS that makes the word ours, say which process holds it. */
  _Atomic uint64_t *record = shmkit_ring__owner_slot(r, side);
  uint64_t mine = shmkit_ring__own_record(me);
  uint32_t cur = 0;
  if (atomic_compare_exchange_strong(w, &cur, me)) {
    atomic_store(record, mine);
    return 0;
  }
  /* Critical sections are one memcpy long: a short spin usually wins. */
  for (uint32_t i = 0; i < r->spin; i++) {
    shmkit_ring__cpu_relax();
    cur = 0;
    if (atomic_load_explicit(w, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_strong(w, &cur, me)) {
      atomic_store(record, mine);
      return 0;
    }
  }
  int slept = 0; /* after a whole slice, also look for a zombie or reused pid (/proc) */
  for (;;) {
    cur = atomic_load(w);
    if (cur == 0) {
      /* We may have slept, so others may sleep too: keep the waiters bit set
       * so our unlock wakes the next one (the futex mutex of Drepper's
       * "Futexes Are Tricky"). */
      if (atomic_compare_exchange_strong(w, &cur, me | SHMKIT_RING_LOCK_WAITERS)) {
        atomic_store(record, mine);
        return 0;
      }
      continue;
    }
    uint32_t owner = cur & SHMKIT_RING_LOCK_OWNER_MASK;
    /* /proc is read only after a whole slice asleep (zombie, reused pid), so
     * a short wait for a live owner costs no file reads. */
    if (owner != me && (shmkit_ring__pid_dead(owner, slept) ||
                        (slept && shmkit_ring__record_says_gone(r, side, owner)))) {
      /* Take the word over from the dead owner in one CAS; keep its waiters
       * bit, since other lockers may be asleep on it. */
      if (atomic_compare_exchange_strong(w, &cur, me | (cur & SHMKIT_RING_LOCK_WAITERS))) {
        atomic_store(record, mine);
        r->owner_died++;
        shmkit_ring__stat_add_shared(r, SHMKIT_RING_OFF_LOCK_RECOVERIES, 1);
        return SHMKIT_RING_OWNER_DIED;
      }
      continue;
    }
    int64_t now = shmkit_ring__now_ns();
    if (deadline_ns >= 0 && now >= deadline_ns) return deadline_ns == 0 ? -EBUSY : -ETIMEDOUT;
    if (!(cur & SHMKIT_RING_LOCK_WAITERS)) {
      uint32_t want = cur | SHMKIT_RING_LOCK_WAITERS;
      if (!atomic_compare_exchange_strong(w, &cur, want)) continue;
      cur = want;
    }
    /* Sleep in slices so a sleeper notices an owner that died. */
    int64_t until = now + SHMKIT_RING_LOCK_SLICE_NS;
    if (deadline_ns >= 0 && deadline_ns < until) until = deadline_ns;
    if (shmkit_ring__futex_wait(w, cur, until) == -ETIMEDOUT) slept = 1;
  }
}

/* Public lock API: timeout_ms < 0 waits forever, 0 tries once (-EBUSY). */
static inline int shmkit_ring_lock(shmkit_ring *r, shmkit_ring_side side, long timeout_ms) {
  return shmkit_ring__lock_until(r, side, timeout_ms == 0 ? 0 : shmkit_ring__deadline(timeout_ms));
}

/* Releases a side's lock; -EPERM if this process does not hold it. */
static inline int shmkit_ring_unlock(shmkit_ring *r, shmkit_ring_side side) {
  _Atomic uint32_t *w = shmkit_ring__u32(r, (size_t)side);
  uint32_t me = (uint32_t)getpid() & SHMKIT_RING_LOCK_OWNER_MASK;
  if ((atomic_load(w) & SHMKIT_RING_LOCK_OWNER_MASK) != me) return -EPERM;
  /* Clear the record first: once the word is free, a record naming us would
   * outlive our hold and could be taken for a later owner's. */
  atomic_store(shmkit_ring__owner_slot(r, side), 0);
  if (atomic_exchange(w, 0) & SHMKIT_RING_LOCK_WAITERS) shmkit_ring__futex_wake(w, 1);
  return 0;
}

/* ---- Producer ---- */

/* After a tail store: wake a consumer only if one announced it sleeps. The
 * seq_cst tail store followed by this seq_cst load pairs with the
 * consumer's seq_cst waiter increment followed by its tail reload: one of
 * the two sides always sees the other's write, so no wake-up is lost. */
/* A side's wait word: bit 0 = someone may sleep, bits 1..31 = an epoch.
 * A waker that finds bit 0 set lowers it and advances the epoch in one CAS
 * (word + 1), then wakes the word: every sleeper's expected value is stale
 * from then on, so none can fall asleep on it and miss this wake. The plain
 * load keeps the common case (nobody asleep) free of a locked instruction. */
static inline int shmkit_ring__claim_sleeper(_Atomic uint32_t *word) {
  uint32_t seen = atomic_load(word);
  while (seen & 1u) {
    if (atomic_compare_exchange_weak(word, &seen, seen + 1u)) return 1;
  }
  return 0;
}

static inline void shmkit_ring__wake_consumers(shmkit_ring *r) {
  _Atomic uint32_t *word = shmkit_ring__u32(r, SHMKIT_RING_OFF_CONSUMER_SLEEPING);
  if (shmkit_ring__claim_sleeper(word)) {
    shmkit_ring__stat_add_shared(r, SHMKIT_RING_OFF_CONSUMER_WAKES, 1);
    shmkit_ring__futex_wake(word, INT_MAX);
  }
}

/* One attempt, with the producer side owned (single producer or lock held).
 * Returns 0, -EAGAIN (not enough room: *seen_head is the head to sleep on),
 * -EMSGSIZE or SHMKIT_RING_ECORRUPT. Sets *published when the tail moved
 * (a wrap marker counts: a consumer must skip it before room appears). */
static inline int shmkit_ring__push_owned(shmkit_ring *r, const void *src, uint32_t len,
                                          uint32_t *seen_head, int *published) {
  const uint32_t cap = r->capacity;
  const uint32_t need = shmkit_ring_frame_bytes(len);
  _Atomic uint32_t *tail_w = shmkit_ring__u32(r, SHMKIT_RING_OFF_TAIL);
  uint32_t tail = atomic_load_explicit(tail_w, memory_order_acquire);
  uint32_t off = tail & r->mask;
  uint32_t to_end = cap - off;
  /* The head last seen bounds the real one from below (it only moves
   * forward): room it shows is really there. Reload it (acquire: the
   * consumer finished copying a frame out before it stored head, and we are
   * about to overwrite those bytes) only when it shows too little room, or
   * makes no sense (another producer moved tail a lap past it). */
  uint32_t head = r->head_seen;
  uint32_t used = tail - head;
  uint32_t want = need > to_end ? to_end + need : need;
  if (used > cap || cap - used < want) {
    head = atomic_load_explicit(shmkit_ring__u32(r, SHMKIT_RING_OFF_HEAD), memory_order_acquire);
    r->head_seen = head;
    used = tail - head;
  }
  if (used > cap || (tail & (SHMKIT_RING_FRAME_ALIGN - 1))) return SHMKIT_RING_ECORRUPT;
  if (need > to_end) {
    /* Frames never wrap. Fill the rest of the area with a wrap marker once
     * all of it is free, publish that, and place the frame at offset 0. */
    if (cap - used < to_end) {
      *seen_head = head;
      return -EAGAIN;
    }
    uint8_t *p = r->data + off;
    memset(p + 4, 0, 4);
    atomic_store_explicit((_Atomic uint32_t *)(void *)p, SHMKIT_RING_WRAP_MARKER,
                          memory_order_relaxed);
    tail += to_end;
    used += to_end;
    atomic_store(tail_w, tail);
    *published = 1;
    off = 0;
  }
  if (cap - used < need) {
    *seen_head = head;
    return -EAGAIN;
  }
  /* Payload first, then the length word, then the tail (seq_cst): a reader
   * that sees the new tail sees the whole frame, and a writer that dies
   * before the tail store leaves nothing visible. */
  uint8_t *p = r->data + off;
  memcpy(p + SHMKIT_RING_FRAME_HEADER_BYTES, src, len);
  memset(p + 4, 0, 4);
  atomic_store_explicit((_Atomic uint32_t *)(void *)p, len, memory_order_relaxed);
  tail += need;
  atomic_store(tail_w, tail);
  *published = 1;

  shmkit_ring__stat_set(r, SHMKIT_RING_OFF_PUSHED_MESSAGES,
                        shmkit_ring_stat(r, SHMKIT_RING_OFF_PUSHED_MESSAGES) + 1);
  shmkit_ring__stat_set(r, SHMKIT_RING_OFF_PUSHED_BYTES,
                        shmkit_ring_stat(r, SHMKIT_RING_OFF_PUSHED_BYTES) + len);
  double now_used = (double)(used + need);
  if (now_used > shmkit_ring_stat(r, SHMKIT_RING_OFF_HIGH_WATER_BYTES))
    shmkit_ring__stat_set(r, SHMKIT_RING_OFF_HIGH_WATER_BYTES, now_used);
  return 0;
}

/* One push attempt: takes the producer lock if the ring is multi-producer
 * (waiting for it until lock_deadline), never waits for room. */
static inline int shmkit_ring__push_once(shmkit_ring *r, const void *src, size_t len,
                                         int64_t lock_deadline, uint32_t *seen_head) {
  if (len > shmkit_ring_max_payload(r)) return -EMSGSIZE;
  int mp = (r->flags & SHMKIT_RING_FLAG_MULTI_PRODUCER) != 0;
  if (mp) {
    int lrc = shmkit_ring__lock_until(r, SHMKIT_RING_PRODUCER, lock_deadline);
    /* A dead lock holder cannot have left a torn frame visible (tail is
     * stored last), so an owner-died lock is as good as a clean one. */
    if (lrc < 0) return lrc;
  }
  int published = 0;
  int rc = shmkit_ring__push_owned(r, src, (uint32_t)len, seen_head, &published);
  if (mp) shmkit_ring_unlock(r, SHMKIT_RING_PRODUCER);
  /* Wake outside the lock: the syscall costs ~1 us and others may be queued. */
  if (published) shmkit_ring__wake_consumers(r);
  return rc;
}

/* Pushes a copy of data[0..len) if there is room now. 0, -EAGAIN (full),
 * -EMSGSIZE (len > capacity - 8), -EBUSY (multi-producer lock held by a
 * live process), or SHMKIT_RING_ECORRUPT. */
static inline int shmkit_ring_try_push(shmkit_ring *r, const void *data, size_t len) {
  uint32_t seen;
  return shmkit_ring__push_once(r, data, len, 0, &seen);
}

/* Sleeps on `index_off` (tail or head) while it still equals `seen`, after
 * a bounded spin. Raises the side's sleeping flag first, then re-checks, so
 * the other side's "store index; load flag" cannot miss it. Only wakers clear
 * the flag: one wake call per sleep, however many pushes/pops follow. */
static inline int shmkit_ring__park(shmkit_ring *r, size_t index_off, size_t sleeping_off,
                                    size_t parks_off, uint32_t seen, int64_t deadline) {
  _Atomic uint32_t *index = shmkit_ring__u32(r, index_off);
  /* Spinning wins when the peer runs on another CPU, and starves it when
   * both share one: keep it short. */
  for (uint32_t i = 0; i < r->spin; i++) {
    if (atomic_load_explicit(index, memory_order_relaxed) != seen) return 0;
    shmkit_ring__cpu_relax();
  }
  /* Raise bit 0 of the wait word, then re-check the index, then sleep on
   * the word's value: a waker since we raised it has changed the word. */
  _Atomic uint32_t *word = shmkit_ring__u32(r, sleeping_off);
  uint32_t expected = atomic_load(word);
  while (!(expected & 1u) && !atomic_compare_exchange_weak(word, &expected, expected | 1u)) {
  }
  expected |= 1u;
  shmkit_ring__stat_add_shared(r, parks_off, 1);
  int rc = 0;
  if (atomic_load(index) == seen) rc = shmkit_ring__futex_wait(word, expected, deadline);
  return rc == -ETIMEDOUT ? rc : 0;
}

/* Pushes, sleeping while the ring is full, for up to timeout_ms (< 0:
 * forever). 0, -ETIMEDOUT, -EMSGSIZE or SHMKIT_RING_ECORRUPT. */
static inline int shmkit_ring_push(shmkit_ring *r, const void *data, size_t len, long timeout_ms) {
  int64_t deadline = shmkit_ring__deadline(timeout_ms);
  for (;;) {
    uint32_t seen = 0;
    int rc = shmkit_ring__push_once(r, data, len, deadline, &seen);
    if (rc != -EAGAIN) return rc;
    /* Full. The producer lock is released while we sleep, so other
     * producers (and a consumer-side wake) are never blocked behind us. */
    if (deadline >= 0 && shmkit_ring__now_ns() >= deadline) return -ETIMEDOUT;
    shmkit_ring__park(r, SHMKIT_RING_OFF_HEAD, SHMKIT_RING_OFF_PRODUCER_SLEEPING,
                      SHMKIT_RING_OFF_PRODUCER_PARKS, seen, deadline);
  }
}

/* ---- Consumer ---- */

static inline void shmkit_ring__wake_producers(shmkit_ring *r) {
  _Atomic uint32_t *word = shmkit_ring__u32(r, SHMKIT_RING_OFF_PRODUCER_SLEEPING);
  if (shmkit_ring__claim_sleeper(word)) {
    shmkit_ring__stat_add_shared(r, SHMKIT_RING_OFF_PRODUCER_WAKES, 1);
    /* All of them: each waits for its own amount of room. */
    shmkit_ring__futex_wake(word, INT_MAX);
  }
}

/* One attempt with the consumer side owned. Returns 0 (*out_len set),
 * -EAGAIN (empty: *seen_tail to sleep on), -EMSGSIZE (buffer too small:
 * *out_len = the payload length, the message stays queued) or
 * SHMKIT_RING_ECORRUPT. Sets *freed when head moved. Every length read
 * from the ring is checked before it is used: the producer may be buggy,
 * dead or hostile. */
static inline int shmkit_ring__pop_owned(shmkit_ring *r, void *buf, size_t cap_bytes,
                                         size_t *out_len, uint32_t *seen_tail, int *freed) {
  const uint32_t cap = r->capacity;
  _Atomic uint32_t *head_w = shmkit_ring__u32(r, SHMKIT_RING_OFF_HEAD);
  uint32_t head = atomic_load_explicit(head_w, memory_order_acquire);
  for (;;) {
    /* The tail last seen bounds the real one from below: frames before it
     * are complete, and were made visible by the load that saw it. Reload it
     * (acquire, seq_cst: everything the producer wrote before storing tail)
     * only when it shows nothing, or makes no sense (another consumer moved
     * head past it). */
    uint32_t tail = r->tail_seen;
    if (head == tail || tail - head > cap) {
      tail = atomic_load(shmkit_ring__u32(r, SHMKIT_RING_OFF_TAIL));
      r->tail_seen = tail;
    }
    if (head == tail) {
      *seen_tail = tail;
      return -EAGAIN;
    }
    uint32_t used = tail - head;
    if (used > cap || (head & (SHMKIT_RING_FRAME_ALIGN - 1))) return SHMKIT_RING_ECORRUPT;
    uint32_t off = head & r->mask;
    uint32_t to_end = cap - off;
    const uint8_t *p = r->data + off;
    /* Read the length once into a local: a peer rewriting it must not make
     * the check and the copy disagree. */
    uint32_t len = atomic_load_explicit((_Atomic uint32_t *)(void *)p, memory_order_relaxed);
    if (len == SHMKIT_RING_WRAP_MARKER) {
      if (to_end > used) return SHMKIT_RING_ECORRUPT;
      head += to_end;
      atomic_store(head_w, head);
      *freed = 1;
      continue;
    }
    if (len > cap - SHMKIT_RING_FRAME_HEADER_BYTES) return SHMKIT_RING_ECORRUPT;
    uint32_t fb = shmkit_ring_frame_bytes(len);
    if (fb > to_end || fb > used) return SHMKIT_RING_ECORRUPT;
    *out_len = len;
    if (len > cap_bytes) return -EMSGSIZE;
    memcpy(buf, p + SHMKIT_RING_FRAME_HEADER_BYTES, len);
    /* seq_cst store, then (in the caller) the seq_cst producer-waiter load. */
    atomic_store(head_w, head + fb);
    *freed = 1;
    shmkit_ring__stat_set(r, SHMKIT_RING_OFF_POPPED_MESSAGES,
                          shmkit_ring_stat(r, SHMKIT_RING_OFF_POPPED_MESSAGES) + 1);
    shmkit_ring__stat_set(r, SHMKIT_RING_OFF_POPPED_BYTES,
                          shmkit_ring_stat(r, SHMKIT_RING_OFF_POPPED_BYTES) + len);
    return 0;
  }
}

static inline int shmkit_ring__pop_once(shmkit_ring *r, void *buf, size_t cap_bytes,
                                        size_t *out_len, int64_t lock_deadline,
                                        uint32_t *seen_tail) {
  int mc = (r->flags & SHMKIT_RING_FLAG_MULTI_CONSUMER) != 0;
  if (mc) {
    /* A consumer that died holding the lock died before or after its head
     * store: its message is either still queued (delivered again) or gone. */
    int lrc = shmkit_ring__lock_until(r, SHMKIT_RING_CONSUMER, lock_deadline);
    if (lrc < 0) return lrc;
  }
  int freed = 0;
  int rc = shmkit_ring__pop_owned(r, buf, cap_bytes, out_len, seen_tail, &freed);
  if (mc) shmkit_ring_unlock(r, SHMKIT_RING_CONSUMER);
  if (freed) shmkit_ring__wake_producers(r);
  return rc;
}

/* Pops the next message into buf (cap bytes) if there is one. 0 (*len set),
 * -EAGAIN (empty), -EMSGSIZE (*len = size needed; message left queued),
 * -EBUSY (multi-consumer lock held by a live process), SHMKIT_RING_ECORRUPT. */
static inline int shmkit_ring_try_pop(shmkit_ring *r, void *buf, size_t cap, size_t *len) {
  uint32_t seen;
  return shmkit_ring__pop_once(r, buf, cap, len, 0, &seen);
}

/* Pops, sleeping while the ring is empty, for up to timeout_ms (< 0:
 * forever). Same results as try_pop, with -ETIMEDOUT instead of -EAGAIN. */
static inline int shmkit_ring_pop(shmkit_ring *r, void *buf, size_t cap, size_t *len,
                                  long timeout_ms) {
  int64_t deadline = shmkit_ring__deadline(timeout_ms);
  for (;;) {
    uint32_t seen = 0;
    int rc = shmkit_ring__pop_once(r, buf, cap, len, deadline, &seen);
    if (rc != -EAGAIN) return rc;
    if (deadline >= 0 && shmkit_ring__now_ns() >= deadline) return -ETIMEDOUT;
    shmkit_ring__park(r, SHMKIT_RING_OFF_TAIL, SHMKIT_RING_OFF_CONSUMER_SLEEPING,
                      SHMKIT_RING_OFF_CONSUMER_PARKS, seen, deadline);
  }
}

/* Waits until every queued byte has been consumed (head == tail), for up to
 * timeout_ms (< 0: forever). Useful before a creator unlinks the ring. */
static inline int shmkit_ring_wait_drained(shmkit_ring *r, long timeout_ms) {
  int64_t deadline = shmkit_ring__deadline(timeout_ms);
  for (;;) {
    uint32_t head = atomic_load(shmkit_ring__u32(r, SHMKIT_RING_OFF_HEAD));
    uint32_t tail = atomic_load(shmkit_ring__u32(r, SHMKIT_RING_OFF_TAIL));
    if (head == tail) return 0;
    if (tail - head > r->capacity) return SHMKIT_RING_ECORRUPT;
    if (deadline >= 0 && shmkit_ring__now_ns() >= deadline) return -ETIMEDOUT;
    shmkit_ring__park(r, SHMKIT_RING_OFF_HEAD, SHMKIT_RING_OFF_PRODUCER_SLEEPING,
                      SHMKIT_RING_OFF_PRODUCER_PARKS, head, deadline);
  }
}

#endif /* SHMKIT_RING_H */
