/*
 * ring_consumer NAME COUNT [--create CAPACITY [--mp] [--mc]] [options]
 *
 * Opens an existing shmkit ring (or creates it with --create, and unlinks it
 * at the end) and pops COUNT messages, blocking while the ring is empty. The
 * k-th message must be message k of the pattern in ring_tool.h, its length
 * taken from the frame. Prints "ok COUNT BYTES" (BYTES = payload bytes
 * popped) on success; on error prints a message to stderr and exits 1 (2
 * for a usage error).
 *
 * Options: --any-order  accept message i at any position (several producers:
 *                       i is read from the message, so it must be >= 8 bytes)
 *          --timeout MS give up when one pop waits longer (default: never)
 *          --wait MS    wait up to MS for the ring to be created
 *          --spin N     polls before parking (default 200)
 *          --spin-us US   spin about US microseconds before parking (polls measured
 *                         at start; the bench passes RingBuffer's default spinUs)
 *          --sampled     the bench's per-message work: stamp / sampled check (ring_tool.h)
 *          --trail BYTES once caught up, let the producer get BYTES ahead (at most
 *                        half the ring) before the next pop, for up to the spin
 *                        budget (tool_trail in ring_tool.h; the bench's C floor)
 *          --stats      timing and ring counters on stderr
 */
#define _GNU_SOURCE 1 /* before any header: shm_open, syscall, kill, clock_gettime */

#include "ring_tool.h"

static void usage(void) {
  fprintf(stderr,
          "usage: ring_consumer NAME COUNT [--create CAPACITY [--mp] [--mc]] [--any-order] "
          "[--timeout MS] [--wait MS] [--spin N] [--spin-us US] [--sampled] [--trail BYTES] "
          "[--stats]\n");
}

int main(int argc, char **argv) {
  tool_args a;
  uint64_t count;
  if (tool_parse_args(argc, argv, &a, 2) || tool_parse_u64(a.positional[1], UINT64_MAX, &count)) {
    usage();
    return 2;
  }
  const char *name = a.positional[0];
  shmkit_ring ring;
  if (tool_attach(&a, name, &ring)) return 1;

  int status = 1;
  size_t cap = shmkit_ring_max_payload(&ring);
  uint8_t *buf, *table;
  if (tool_alloc(cap, &buf, &table)) goto out;

  uint64_t bytes = 0;
  double start = 0;
  /* A producer waiting for room for a frame larger than capacity - trail never
   * lets `trail` bytes be queued, and every wait would run out its budget: at
   * most half the ring. (A heuristic for one consumer; it only delays a pop.) */
  uint32_t trail = a.trail < ring.capacity / 2 ? (uint32_t)a.trail : ring.capacity / 2;
  for (uint64_t k = 0; k < count; k++) {
    size_t len = 0;
    if (trail) tool_trail(&ring, trail, ring.spin);
    int rc = shmkit_ring_pop(&ring, buf, cap, &len, a.timeout_ms);
    if (rc != 0) {
      fprintf(stderr, "pop of message %llu failed: %s\n", (unsigned long long)k,
              shmkit_ring_strerror(rc));
      goto out;
    }
    if (k == 0) start = tool_now_s(); /* time from the first message, not our start-up */
    uint64_t i = k;
    if (a.any_order) {
      if (len < 8) {
        fprintf(stderr, "message %llu: %zu bytes, too short to carry its index\n",
                (unsigned long long)k, len);
        goto out;
      }
      memcpy(&i, buf, 8); /* little-endian host */
    }
    if (a.sampled) {
      long wrong = tool_sampled_check(buf, len, i);
      if (wrong >= 0) {
        fprintf(stderr, "message %llu (%zu bytes): byte %ld is wrong (sampled check)\n",
                (unsigned long long)k, len, wrong);
        goto out;
      }
      bytes += len;
      continue;
    }
    long bad = tool_check(buf, len, i, table);
    if (bad >= 0) {
      fprintf(stderr,
              "message %llu (%zu bytes): byte %ld is 0x%02x, expected 0x%02x for message %llu\n",
              (unsigned long long)k, len, bad, buf[bad], tool_expected_byte(i, (size_t)bad),
              (unsigned long long)i);
      goto out;
    }
    bytes += len;
  }
  double seconds = count ? tool_now_s() - start : 0;
  tool_report_ok("consumer", &a, &ring, count, bytes, seconds);
  status = 0;

out:
  tool_cleanup(&a, name, &ring, buf, table);
  return status;
}
