/*
 * memcpy_bench COUNT SIZE
 *
 * The C reference for `shmkit bench`'s copying rows: copies one hot SIZE-byte
 * buffer into another COUNT times with memcpy(3) (what a ring push or pop
 * does once per message, without the ring) and prints
 * "ok COUNT BYTES SECONDS". Both buffers are touched first, so no page fault
 * is timed. Exits 2 for a usage error, 1 when memory is short.
 */
#define _GNU_SOURCE 1 /* before any header: clock_gettime */

#include "ring_tool.h"

int main(int argc, char **argv) {
  uint64_t count, size;
  if (argc != 3 || tool_parse_u64(argv[1], UINT64_MAX, &count) ||
      tool_parse_u64(argv[2], SHMKIT_RING_MAX_CAPACITY, &size) || size == 0) {
    fprintf(stderr, "usage: memcpy_bench COUNT SIZE\n");
    return 2;
  }
  uint8_t *src = malloc(size), *dst = malloc(size);
  if (!src || !dst) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  tool_sampled_template(src, size);
  memset(dst, 0, size);
  double start = tool_now_s();
  for (uint64_t i = 0; i < count; i++) {
    src[0] = (uint8_t)i; /* a different message each time */
    memcpy(dst, src, size);
    /* The copy must happen: the compiler may not drop or merge it. */
    __asm__ __volatile__("" : : "r"(dst) : "memory");
  }
  double seconds = tool_now_s() - start;
  if (count > 0 && dst[0] != (uint8_t)(count - 1)) {
    fprintf(stderr, "the last copy is wrong\n");
    return 1;
  }
  printf("ok %llu %llu %.9f\n", (unsigned long long)count, (unsigned long long)(count * size),
         seconds);
  free(src);
  free(dst);
  return 0;
}
