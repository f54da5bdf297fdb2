/*
 * Shared by ring_producer.c and ring_consumer.c: the deterministic message
 * pattern and small CLI helpers. Not part of the public API.
 *
 * Message i of SIZE bytes: byte j < 8 is byte j of i as a little-endian u64
 * (only the first SIZE of them when SIZE < 8); byte j >= 8 is (i*31 + j) & 0xff,
 * with j the byte's index in the whole message.
 *
 * With --sampled, both tools do the work per message of `shmkit bench`'s
 * JavaScript rows instead (bench/message.mjs), so that the C row bounds them:
 * the body is one fixed pattern, (j*7 + 3) & 0xff, written once; the producer
 * stamps i into the first 8 bytes and ~i into the last 8; the consumer checks
 * both stamps and 8 body bytes at positions that move with i.
 */
#ifndef SHMKIT_RING_TOOL_H
#define SHMKIT_RING_TOOL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmkit/ring.h"

/* Bytes j >= 8 of message i run (i*31 + 8), (i*31 + 9), ... mod 256: one
 * table of k & 0xff lets fill and verify be a memcpy / memcmp from offset
 * (i*31 + 8) & 0xff instead of a loop per byte. */
static inline uint8_t *tool_pattern_table(size_t size) {
  uint8_t *t = malloc(size + 256);
  if (!t) return NULL;
  for (size_t k = 0; k < size + 256; k++) t[k] = (uint8_t)k;
  return t;
}

static inline size_t tool_tail_start(uint64_t i) { return (size_t)((i * 31 + 8) & 0xff); }

static inline void tool_fill(uint8_t *msg, size_t size, uint64_t i, const uint8_t *table) {
  for (size_t j = 0; j < 8 && j < size; j++) msg[j] = (uint8_t)(i >> (8 * j));
  if (size > 8) memcpy(msg + 8, table + tool_tail_start(i), size - 8);
}

/* Returns the index of the first wrong byte, or -1 if msg is message i. */
static inline long tool_check(const uint8_t *msg, size_t size, uint64_t i, const uint8_t *table) {
  for (size_t j = 0; j < 8 && j < size; j++)
    if (msg[j] != (uint8_t)(i >> (8 * j))) return (long)j;
  if (size > 8 && memcmp(msg + 8, table + tool_tail_start(i), size - 8) != 0) {
    for (size_t j = 8; j < size; j++)
      if (msg[j] != (uint8_t)((i * 31 + j) & 0xff)) return (long)j;
  }
  return -1;
}

/* --sampled: the fixed body byte at j, the template, the stamp and the check. */
static inline uint8_t tool_sampled_byte(size_t j) { return (uint8_t)((j * 7 + 3) & 0xff); }

static inline void tool_sampled_template(uint8_t *msg, size_t size) {
  for (size_t j = 0; j < size; j++) msg[j] = tool_sampled_byte(j);
}

static inline void tool_sampled_stamp(uint8_t *msg, size_t size, uint64_t i) {
  memcpy(msg, &i, size < 8 ? size : 8); /* little-endian host */
  if (size >= 16) {
    uint64_t not_i = ~i;
    memcpy(msg + size - 8, &not_i, 8);
  }
}

/* Returns the index of the first wrong byte found, or -1. */
static inline long tool_sampled_check(const uint8_t *msg, size_t size, uint64_t i) {
  uint64_t word = 0;
  memcpy(&word, msg, size < 8 ? size : 8);
  if (word != (size < 8 ? i & ((1ull << (8 * size)) - 1) : i)) return 0;
  if (size < 16) return -1;
  memcpy(&word, msg + size - 8, 8);
  if (word != ~i) return (long)(size - 8);
  size_t span = size - 16;
  if (span == 0) return -1;
  size_t at = (size_t)((uint32_t)(i * 0x2545f491u) % span);
  size_t step = span / 8 > 0 ? span / 8 : 1;
  for (int p = 0; p < 8; p++) {
    size_t j = 8 + at;
    if (msg[j] != tool_sampled_byte(j)) return (long)j;
    at += step;
    if (at >= span) at -= span;
  }
  return -1;
}

static inline uint8_t tool_expected_byte(uint64_t i, size_t j) {
  return j < 8 ? (uint8_t)(i >> (8 * j)) : (uint8_t)((i * 31 + j) & 0xff);
}

/* Parses a non-negative decimal integer no larger than max; 0 on success. */
static inline int tool_parse_u64(const char *s, uint64_t max, uint64_t *out) {
  if (!s || !*s || *s == '-' || *s == '+') return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max) return -1;
  *out = v;
  return 0;
}

static inline double tool_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* How many empty/full polls (with the CPU's pause hint) take about `us`
 * microseconds here: RingBuffer spins for a time (spinUs), ring.h for a
 * number of polls, so --spin-us measures one to match the other. */
static inline uint32_t tool_polls_for_us(uint64_t us) {
  _Atomic uint32_t never = 0;
  const uint32_t n = 200000;
  double start = tool_now_s();
  for (uint32_t k = 0; k < n; k++) {
    if (atomic_load_explicit(&never, memory_order_relaxed) != 0) break;
    shmkit_ring__cpu_relax();
  }
  double per_poll_us = (tool_now_s() - start) * 1e6 / n;
  double polls = per_poll_us > 0 ? (double)us / per_poll_us : (double)UINT32_MAX;
  return polls >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)polls;
}

/* The consumer's --trail: called before each pop. Once the consumer has taken
 * every frame it knew of, it lets the producer get `trail` bytes ahead before
 * it takes the next, spinning (a poll of tail every 16 pause hints) for at
 * most the ring's spin budget; then it pops as usual, parking if the ring is
 * still empty. Popping each frame as soon as it is published keeps the two
 * sides on the same cache lines (the frame being written, the tail), which
 * then cross between the CPUs once or more per message; a JavaScript consumer
 * does eight times more work per message and trails the producer anyway
 * (docs/benchmarks.md, "The C floor"). The ring's format, its indices and its
 * park/wake protocol are untouched: this only decides when to look again. */
static inline void tool_trail(shmkit_ring *r, uint32_t trail, uint32_t budget) {
  _Atomic uint32_t *head_w = shmkit_ring__u32(r, SHMKIT_RING_OFF_HEAD);
  _Atomic uint32_t *tail_w = shmkit_ring__u32(r, SHMKIT_RING_OFF_TAIL);
  uint32_t head = atomic_load_explicit(head_w, memory_order_relaxed);
  if (r->tail_seen != head) return; /* frames it already knows of: take them */
  for (uint32_t polls = 0; polls < budget; polls += 16) {
    if (atomic_load_explicit(tail_w, memory_order_relaxed) - head >= trail) return;
    for (int k = 0; k < 16; k++) shmkit_ring__cpu_relax();
  }
}

/* Options both tools accept after (or between) their positional arguments. */
typedef struct {
  const char *positional[3];
  int npositional;
  uint64_t create_capacity; /* 0: open an existing ring */
  uint32_t flags;           /* for --create: --mp / --mc */
  long timeout_ms;          /* per blocking push/pop; -1 = forever */
  long wait_ms;             /* how long to wait for the ring to appear */
  int stats;                /* print timing and ring stats to stderr */
  int any_order;            /* consumer: messages may come from several producers */
  uint64_t spin;            /* polls before parking */
  int spin_set;
  uint64_t spin_us; /* --spin-us: spin about this long before parking instead */
  int sampled;      /* --sampled: the bench's per-message work (see the top) */
  uint64_t trail;   /* consumer --trail: bytes to let the producer get ahead (tool_trail) */
} tool_args;

static inline int tool_parse_args(int argc, char **argv, tool_args *a, int max_positional) {
  memset(a, 0, sizeof *a);
  a->timeout_ms = -1;
  a->wait_ms = 0;
  for (int k = 1; k < argc; k++) {
    const char *s = argv[k];
    uint64_t v;
    if (strcmp(s, "--create") == 0 && k + 1 < argc) {
      if (tool_parse_u64(argv[++k], SHMKIT_RING_MAX_CAPACITY, &v) || v < SHMKIT_RING_MIN_CAPACITY ||
          (v & (v - 1))) {
        fprintf(stderr, "--create: CAPACITY must be a power of two in [64, 2^30], got %s\n",
                argv[k]);
        return -1;
      }
      a->create_capacity = v;
    } else if (strcmp(s, "--timeout") == 0 && k + 1 < argc) {
      if (tool_parse_u64(argv[++k], LONG_MAX / 1000000, &v)) return -1;
      a->timeout_ms = (long)v;
    } else if (strcmp(s, "--wait") == 0 && k + 1 < argc) {
      if (tool_parse_u64(argv[++k], LONG_MAX / 1000000, &v)) return -1;
      a->wait_ms = (long)v;
    } else if (strcmp(s, "--spin") == 0 && k + 1 < argc) {
      if (tool_parse_u64(argv[++k], UINT32_MAX, &a->spin)) return -1;
      a->spin_set = 1;
    } else if (strcmp(s, "--spin-us") == 0 && k + 1 < argc) {
      if (tool_parse_u64(argv[++k], 1000000, &a->spin_us)) return -1;
    } else if (strcmp(s, "--trail") == 0 && k + 1 < argc) {
      if (tool_parse_u64(argv[++k], SHMKIT_RING_MAX_CAPACITY, &a->trail)) return -1;
    } else if (strcmp(s, "--sampled") == 0) {
      a->sampled = 1;
    } else if (strcmp(s, "--mp") == 0) {
      a->flags |= SHMKIT_RING_FLAG_MULTI_PRODUCER;
    } else if (strcmp(s, "--mc") == 0) {
      a->flags |= SHMKIT_RING_FLAG_MULTI_CONSUMER;
    } else if (strcmp(s, "--stats") == 0) {
      a->stats = 1;
    } else if (strcmp(s, "--any-order") == 0) {
      a->any_order = 1;
    } else if (s[0] == '-' && s[1] == '-') {
      fprintf(stderr, "unknown option %s\n", s);
      return -1;
    } else {
      if (a->npositional == max_positional) return -1;
      a->positional[a->npositional++] = s;
    }
  }
  return a->npositional == max_positional ? 0 : -1;
}

/* Creates (with --create) or opens the ring; prints the error and returns
 * non-zero on failure. */
static inline int tool_attach(const tool_args *a, const char *name, shmkit_ring *ring) {
  int rc;
  if (a->create_capacity) {
    rc = shmkit_ring_create(name, (uint32_t)a->create_capacity, a->flags, 0600, ring);
    if (rc < 0) fprintf(stderr, "cannot create ring %s: %s\n", name, shmkit_ring_strerror(rc));
  } else {
    rc = shmkit_ring_open(name, ring);
    /* A ring whose creator is mid-way through its header is worth a moment. */
    if (rc == SHMKIT_RING_ENOTREADY || (a->wait_ms > 0 && rc == -ENOENT))
      rc = shmkit_ring_open_wait(name, a->wait_ms > 0 ? a->wait_ms : 1000, ring);
    if (rc < 0) fprintf(stderr, "cannot open ring %s: %s\n", name, shmkit_ring_strerror(rc));
  }
  if (rc == 0 && a->spin_set) ring->spin = (uint32_t)a->spin;
  if (rc == 0 && a->spin_us) ring->spin = tool_polls_for_us(a->spin_us);
  return rc < 0;
}

static inline void tool_print_stats(const char *who, const shmkit_ring *r, uint64_t count,
                                    uint64_t bytes, double seconds) {
  fprintf(stderr,
          "%s: %llu msgs, %llu bytes in %.6f s: %.0f msg/s, %.1f MB/s "
          "(producer parks %.0f wakes %.0f, consumer parks %.0f wakes %.0f, high water %.0f B)\n",
          who, (unsigned long long)count, (unsigned long long)bytes, seconds,
          seconds > 0 ? (double)count / seconds : 0,
          seconds > 0 ? (double)bytes / seconds / 1e6 : 0,
          shmkit_ring_stat(r, SHMKIT_RING_OFF_PRODUCER_PARKS),
          shmkit_ring_stat(r, SHMKIT_RING_OFF_PRODUCER_WAKES),
          shmkit_ring_stat(r, SHMKIT_RING_OFF_CONSUMER_PARKS),
          shmkit_ring_stat(r, SHMKIT_RING_OFF_CONSUMER_WAKES),
          shmkit_ring_stat(r, SHMKIT_RING_OFF_HIGH_WATER_BYTES));
}

/* A message buffer of `size` bytes and the pattern table for it; nonzero (and
 * a message) when memory is short. */
static inline int tool_alloc(size_t size, uint8_t **buf, uint8_t **table) {
  *buf = malloc(size ? size : 1);
  *table = tool_pattern_table(size);
  if (*buf && *table) return 0;
  fprintf(stderr, "out of memory\n");
  return 1;
}

/* The end of a successful run: the "ok COUNT BYTES" line the tests read, then
 * the optional statistics and a note when a dead owner's lock was taken over. */
static inline void tool_report_ok(const char *who, const tool_args *a, const shmkit_ring *ring,
                                  uint64_t count, uint64_t bytes, double seconds) {
  printf("ok %llu %llu\n", (unsigned long long)count, (unsigned long long)bytes);
  fflush(stdout);
  if (a->stats) tool_print_stats(who, ring, count, bytes, seconds);
  if (ring->owner_died) fprintf(stderr, "recovered the %s lock from a dead owner\n", who);
}

/* Releases a run's buffers and ring; the creator also removes the name. */
static inline void tool_cleanup(const tool_args *a, const char *name, shmkit_ring *ring, void *msg,
                                void *table) {
  free(msg);
  free(table);
  shmkit_ring_close(ring);
  if (a->create_capacity) shmkit_ring_unlink(name);
}

#endif /* SHMKIT_RING_TOOL_H */
