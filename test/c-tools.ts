/**
 * The C tools of native/tools for tests: found or built on first use by
 * bench/native-tools.mjs (an install no longer builds them), once per test file.
 */
let built: Promise<{ paths?: Record<string, string>; why?: string }> | undefined;

/** { paths } of the ring producer and consumer, or { why } they cannot be had (no C compiler, …). */
export function ringTools(): Promise<{ paths?: Record<string, string>; why?: string }> {
  built ??= import('../bench/native-tools.mjs').then((tools) =>
    tools.ensureTools(['ring_producer', 'ring_consumer']).then(
      (paths: Record<string, string>) => ({ paths }),
      (error: Error) => ({ why: error.message }),
    ),
  );
  return built;
}
