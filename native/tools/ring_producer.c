/*
 * ring_producer NAME COUNT SIZE [--create CAPACITY [--mp] [--mc]] [options]
 *
 * Opens an existing shmkit ring (or creates it with --create, and unlinks it
 * at the end once a consumer has drained it) and pushes COUNT messages of
 * SIZE bytes with the deterministic pattern of ring_tool.h, blocking while
 * the ring is full. Prints "ok COUNT BYTES" on success; on error prints a
 * message to stderr and exits 1 (2 for a usage error).
 *
 * Options: --timeout MS  give up when one push waits longer (default: never)
 *          --wait MS     wait up to MS for the ring to be created
 *          --spin N      polls before parking (default 200)
 *          --spin-us US   spin about US microseconds before parking (polls measured
 *                         at start; the bench passes RingBuffer's default spinUs)
 *          --sampled     the bench's per-message work: stamp / sampled check (ring_tool.h)
 *          --stats       timing and ring counters on stderr
 */
#define _GNU_SOURCE 1 /* before any header: shm_open, syscall, kill, clock_gettime */

#include "ring_tool.h"

static void usage(void) {
  fprintf(stderr,
          "usage: ring_producer NAME COUNT SIZE [--create CAPACITY [--mp] [--mc]] "
          "[--timeout MS] [--wait MS] [--spin N] [--spin-us US] [--sampled] [--stats]\n");
}

int main(int argc, char **argv) {
  tool_args a;
  uint64_t count, size;
  if (tool_parse_args(argc, argv, &a, 3) || tool_parse_u64(a.positional[1], UINT64_MAX, &count) ||
      tool_parse_u64(a.positional[2], SHMKIT_RING_MAX_CAPACITY, &size)) {
    usage();
    return 2;
  }
  const char *name = a.positional[0];
  shmkit_ring ring;
  if (tool_attach(&a, name, &ring)) return 1;

  int status = 1;
  uint8_t *msg, *table;
  if (tool_alloc(size, &msg, &table)) goto out;
  if (size > shmkit_ring_max_payload(&ring)) {
    fprintf(stderr, "SIZE %llu exceeds this ring's largest message (%u bytes)\n",
            (unsigned long long)size, shmkit_ring_max_payload(&ring));
    goto out;
  }

  if (a.sampled) tool_sampled_template(msg, size);
  double start = tool_now_s();
  for (uint64_t i = 0; i < count; i++) {
    if (a.sampled) {
      tool_sampled_stamp(msg, size, i);
    } else {
      tool_fill(msg, size, i, table);
    }
    int rc = shmkit_ring_push(&ring, msg, size, a.timeout_ms);
    if (rc != 0) {
      fprintf(stderr, "push of message %llu failed: %s\n", (unsigned long long)i,
              shmkit_ring_strerror(rc));
      goto out;
    }
  }
  if (a.create_capacity) {
    /* We will unlink the name: let a consumer that has not opened it yet
     * find it, and take every message before we go. */
    int rc = shmkit_ring_wait_drained(&ring, a.timeout_ms);
    if (rc != 0) {
      fprintf(stderr, "waiting for the consumer to drain the ring: %s\n", shmkit_ring_strerror(rc));
      goto out;
    }
  }
  double seconds = tool_now_s() - start;
  tool_report_ok("producer", &a, &ring, count, count * size, seconds);
  status = 0;

out:
  tool_cleanup(&a, name, &ring, msg, table);
  return status;
}
