/*
 * ring_pingpong ROUNDS SIZE [--warm N] [--spin-us US] [--cpus PING,ECHO]
 *
 * The native floor of `shmkit bench`'s round-trip latency over a ring: forks;
 * the parent pushes message i (SIZE bytes, the --sampled stamp of
 * ring_tool.h) into ring A, the child pops it, checks it and pushes it back
 * into ring B, the parent pops and checks it. Both sides spin about US
 * microseconds (default 20, RingBuffer's default spinUs) before they park, as
 * the JavaScript rings do. The first N round trips (default ROUNDS / 10) are
 * warm-up. Prints "ok ROUNDS" and then one line of nanoseconds per timed
 * round trip ("ns 1234 1187 ..."); exits 1 on a wrong message or a ring
 * error, 2 for a usage error. The two rings are unlinked at once (they live
 * while mapped), so nothing is left behind even if a side is killed.
 * --cpus pins the pinger to CPU PING and the echo to CPU ECHO
 * (sched_setaffinity(2)), as `shmkit bench --pin` pins the two Node ends.
 */
#define _GNU_SOURCE 1 /* before any header: clock_gettime, shm_open */

#include <sched.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ring_tool.h"

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Pins the calling process to `cpu` (< 0: leaves it); 0 or 1 (printed). */
static int pin(long cpu, const char *who) {
  if (cpu < 0) return 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET((int)cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) == 0) return 0;
  fprintf(stderr, "%s: cannot pin to CPU %ld: %s\n", who, cpu, strerror(errno));
  return 1;
}

/* Pops one message into buf and checks it is message i. 0 or 1 (printed). */
static int pop_checked(shmkit_ring *r, uint8_t *buf, size_t size, uint64_t i, const char *who) {
  size_t len = 0;
  int rc = shmkit_ring_pop(r, buf, size, &len, 20000);
  if (rc != 0) {
    fprintf(stderr, "%s: pop of message %llu failed: %s\n", who, (unsigned long long)i,
            shmkit_ring_strerror(rc));
    return 1;
  }
  long wrong = len == size ? tool_sampled_check(buf, len, i) : 0;
  if (wrong >= 0) {
    fprintf(stderr, "%s: message %llu (%zu bytes): byte %ld is wrong (sampled check)\n", who,
            (unsigned long long)i, len, wrong);
    return 1;
  }
  return 0;
}

static int push(shmkit_ring *r, const uint8_t *msg, size_t size, const char *who) {
  int rc = shmkit_ring_push(r, msg, size, 20000);
  if (rc != 0) fprintf(stderr, "%s: push failed: %s\n", who, shmkit_ring_strerror(rc));
  return rc != 0;
}

int main(int argc, char **argv) {
  uint64_t rounds = 0, size = 0, warm = UINT64_MAX, spin_us = 20;
  long cpus[2] = {-1, -1};
  int bad = argc < 3 || tool_parse_u64(argv[1], 100000000, &rounds) ||
            tool_parse_u64(argv[2], 1 << 20, &size) || size == 0;
  for (int k = 3; !bad && k < argc; k++) {
    if (strcmp(argv[k], "--warm") == 0 && k + 1 < argc) {
      bad = tool_parse_u64(argv[++k], 100000000, &warm);
    } else if (strcmp(argv[k], "--spin-us") == 0 && k + 1 < argc) {
      bad = tool_parse_u64(argv[++k], 1000000, &spin_us);
    } else if (strcmp(argv[k], "--cpus") == 0 && k + 1 < argc) {
      char *end;
      cpus[0] = strtol(argv[++k], &end, 10);
      bad = *end != ',' || cpus[0] < 0;
      if (!bad) cpus[1] = strtol(end + 1, &end, 10);
      bad = bad || *end != '\0' || cpus[1] < 0;
    } else {
      bad = 1;
    }
  }
  if (bad) {
    fprintf(stderr,
            "usage: ring_pingpong ROUNDS SIZE [--warm N] [--spin-us US] [--cpus PING,ECHO]\n");
    return 2;
  }
  if (warm == UINT64_MAX) warm = rounds / 10;

  char names[2][64];
  shmkit_ring rings[2];
  uint32_t capacity = 64;
  while (capacity < 4 * (size + 8)) capacity <<= 1;
  for (int k = 0; k < 2; k++) {
    snprintf(names[k], sizeof names[k], "/shmkit-pingpong-%d-%d", (int)getpid(), k);
    int rc = shmkit_ring_create(names[k], capacity, 0, 0600, &rings[k]);
    if (rc < 0) {
      fprintf(stderr, "cannot create ring %s: %s\n", names[k], shmkit_ring_strerror(rc));
      return 1;
    }
    shmkit_ring_unlink(names[k]);
    rings[k].spin = tool_polls_for_us(spin_us);
  }
  uint8_t *msg = malloc(size), *buf = malloc(size);
  int64_t *ns = malloc((rounds ? rounds : 1) * sizeof *ns);
  if (!msg || !buf || !ns) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  tool_sampled_template(msg, size);
  uint64_t total = warm + rounds;

  pid_t child = fork();
  if (child < 0) {
    perror("fork");
    return 1;
  }
  if (child == 0) { /* the echo: A -> B */
    if (pin(cpus[1], "echo")) _exit(1);
    for (uint64_t i = 0; i < total; i++) {
      if (pop_checked(&rings[0], buf, size, i, "echo") || push(&rings[1], buf, size, "echo"))
        _exit(1);
    }
    _exit(0);
  }
  int status = pin(cpus[0], "ping");
  for (uint64_t i = 0; i < total && status == 0; i++) {
    int64_t t0 = now_ns();
    tool_sampled_stamp(msg, size, i);
    status = push(&rings[0], msg, size, "ping") || pop_checked(&rings[1], buf, size, i, "ping");
    if (i >= warm) ns[i - warm] = now_ns() - t0;
  }
  if (status != 0) kill(child, SIGKILL);
  int child_status = 0;
  waitpid(child, &child_status, 0);
  if (status != 0 || !WIFEXITED(child_status) || WEXITSTATUS(child_status) != 0) return 1;
  printf("ok %llu\nns", (unsigned long long)rounds);
  for (uint64_t k = 0; k < rounds; k++) printf(" %lld", (long long)ns[k]);
  printf("\n");
  return 0;
}
