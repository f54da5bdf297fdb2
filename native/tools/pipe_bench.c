/*
 * pipe_bench COUNT SIZE
 *
 * The native floor of a pipe for `shmkit bench`: forks; the parent writes
 * COUNT messages of SIZE bytes (the pattern of ring_tool.h) into an anonymous
 * pipe, the child reads each one whole and checks every byte. The child
 * times from the first message to the last and prints
 * "ok COUNT BYTES SECONDS"; the parent exits with the child's status (1 on a
 * wrong byte or an I/O error, 2 for a usage error).
 */
#define _GNU_SOURCE 1 /* before any header: clock_gettime */

#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ring_tool.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* 1 on a whole message, 0 at end of file before any byte, -1 on an error or a short message. */
static int read_all(int fd, uint8_t *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) return got == 0 ? 0 : -1;
    got += (size_t)r;
  }
  return 1;
}

static int consume(int fd, uint64_t count, size_t size) {
  uint8_t *buf = malloc(size ? size : 1);
  uint8_t *table = tool_pattern_table(size);
  if (!buf || !table) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  double start = 0;
  for (uint64_t i = 0; i < count; i++) {
    int rc = read_all(fd, buf, size);
    if (rc != 1) {
      fprintf(stderr, "message %llu: %s\n", (unsigned long long)i,
              rc == 0 ? "end of pipe (lost messages)" : "short read or read error");
      return 1;
    }
    if (i == 0) start = now_s();
    long bad = tool_check(buf, size, i, table);
    if (bad >= 0) {
      fprintf(stderr, "message %llu: byte %ld is 0x%02x, expected 0x%02x\n", (unsigned long long)i,
              bad, buf[bad], tool_expected_byte(i, (size_t)bad));
      return 1;
    }
  }
  double seconds = count ? now_s() - start : 0;
  printf("ok %llu %llu %.9f\n", (unsigned long long)count,
         (unsigned long long)(count * (uint64_t)size), seconds);
  fflush(stdout);
  free(buf);
  free(table);
  return 0;
}

int main(int argc, char **argv) {
  uint64_t count, size;
  if (argc != 3 || tool_parse_u64(argv[1], UINT64_MAX, &count) ||
      tool_parse_u64(argv[2], 1u << 30, &size) || size == 0) {
    fprintf(stderr, "usage: pipe_bench COUNT SIZE\n");
    return 2;
  }
  int fds[2];
  if (pipe(fds) != 0) {
    perror("pipe");
    return 1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 1;
  }
  if (pid == 0) {
    close(fds[1]);
    _exit(consume(fds[0], count, (size_t)size));
  }
  close(fds[0]);
  uint8_t *msg = malloc((size_t)size);
  uint8_t *table = tool_pattern_table((size_t)size);
  if (!msg || !table) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  int status = 0;
  for (uint64_t i = 0; i < count; i++) {
    tool_fill(msg, (size_t)size, i, table);
    if (write_all(fds[1], msg, (size_t)size) != 0) {
      perror("write");
      status = 1;
      break;
    }
  }
  close(fds[1]);
  int child = 0;
  if (waitpid(pid, &child, 0) < 0) {
    perror("waitpid");
    return 1;
  }
  free(msg);
  free(table);
  if (status) return status;
  return WIFEXITED(child) ? WEXITSTATUS(child) : 1;
}
