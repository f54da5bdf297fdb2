#!/usr/bin/env bash
# npm run test:sanitize [-- test/<file>.test.ts ...]
#
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-sanitize/ (CMakeLists.txt, -DSHMKIT_SANITIZE=ON; build/ is untouched)
# and runs the native-facing test files with it (docs/building.md, "Sanitizers
# and fuzzing"). Fails if a test fails or if any process of the run — the
# vitest workers and every child they fork — wrote a sanitizer report.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."

# The test files whose code reaches the addon; arguments replace the list.
FILES=(
  test/shm.test.ts test/semaphore.test.ts test/futex.test.ts test/sysv-mq.test.ts test/sysv-shm.test.ts test/sysv-sem.test.ts test/posix-mq.test.ts
  test/fifo.test.ts test/signals.test.ts test/ring-buffer.test.ts test/mutex.test.ts test/typed-queue.test.ts
  test/errors.test.ts test/fuzz-headers.test.ts
)
if (($#)); then FILES=("$@"); fi

# Node is not built with ASan, so its runtime must be the first library loaded:
# LD_PRELOAD, which every child process inherits with the rest of the environment.
LIBASAN=$(gcc -print-file-name=libasan.so)
if [[ ! -e $LIBASAN ]]; then
  echo "test:sanitize: libasan.so not found (gcc -print-file-name=libasan.so says '$LIBASAN'): install gcc's libasan" >&2
  exit 1
fi

echo "== building the sanitized addon into build-sanitize/"
npx cmake-js compile --prefer-make --out build-sanitize --CDSHMKIT_SANITIZE=ON --target shmkit --silent
ADDON=$PWD/build-sanitize/Release/shmkit.node
# Child fixtures import 'shmkit', i.e. dist/: it must read SHMKIT_ADDON_PATH too.
echo "== compiling TypeScript (dist/, for the child processes)"
npm run --silent build

# ASan writes each report to a file of its own (REPORTS/asan.<pid>), so a
# report from a child whose stderr a test captured is not lost. GCC's UBSan
# runtime ignores log_path: its reports go to stderr (scanned below), and the
# process aborts (SIGABRT), which fails the test that ran it. Leaks are not
# checked: V8 and Node leave memory behind at exit by design. SIGBUS is left to
# the kernel (handle_sigbus=0): touching a mapping a peer shrank raises it by
# design (a kernel rule), and a test may expect a child to die of it.
REPORTS=$(mktemp -d "${TMPDIR:-/tmp}/shmkit-sanitize.XXXXXX")
export LD_PRELOAD=$LIBASAN
export SHMKIT_ADDON_PATH=$ADDON
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:handle_sigbus=0:log_path=$REPORTS/asan"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"

# Proof that the override works: a process of this environment maps the
# sanitized addon and the ASan runtime.
node -e '
  require("./dist/index.js");
  const maps = require("fs").readFileSync("/proc/self/maps", "utf8");
  for (const want of [process.env.SHMKIT_ADDON_PATH, "libasan"]) {
    if (!maps.includes(want)) { console.error(`test:sanitize: ${want} is not loaded`); process.exit(1); }
  }'

echo "== running ${#FILES[@]} test file(s) under ASan + UBSan"
status=0
npx vitest run "${FILES[@]}" 2>&1 | tee "$REPORTS/output" || status=$?

reports=("$REPORTS"/asan.*)
if ((${#reports[@]})); then
  for report in "${reports[@]}"; do
    echo "---- sanitizer report: $report" >&2
    cat "$report" >&2
  done
  echo "test:sanitize: ${#reports[@]} ASan report(s) (kept in $REPORTS)" >&2
  exit 1
fi
if grep -E -q 'runtime error:|ERROR: AddressSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer' "$REPORTS/output"; then
  echo "test:sanitize: a sanitizer reported in the output above (kept in $REPORTS/output)" >&2
  exit 1
fi
rm -r "$REPORTS"
if ((status)); then echo "test:sanitize: the tests failed (exit $status)" >&2; fi
exit "$status"
