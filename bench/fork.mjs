// The parent's side of a benchmark child process (bench/child.mjs): fork it
// with its config, then await its control messages ({ ctl }) one at a time.
import { fork } from 'node:child_process';

/**
 * Forks `script` with `cfg` (JSON in argv[2]) and adds it to `children` (a Set, for cleanup);
 * expect(ctl) awaits its next control message, rejecting if it reports an error or exits.
 * options: serialization; stdio; onData(message) for non-control messages (process.send
 * transports); cpu: run it under `taskset -c cpu` (taskset is `tasksetPath`, see
 * bench/placement.mjs); timeoutMs: expect()'s default.
 */
export function forkChild(
  script,
  children,
  cfg,
  {
    serialization = 'json',
    stdio = ['ignore', 'inherit', 'inherit', 'ipc'],
    onData,
    cpu,
    tasksetPath = 'taskset',
    timeoutMs: defaultTimeoutMs = 60_000,
  } = {},
) {
  const options = { serialization, stdio };
  if (cpu !== undefined) {
    // taskset execs node, which inherits the IPC channel (NODE_CHANNEL_FD).
    Object.assign(options, {
      execPath: tasksetPath,
      execArgv: ['-c', String(cpu), process.execPath, ...process.execArgv],
    });
  }
  const child = fork(script, [JSON.stringify(cfg)], options);
  children.add(child);
  const inbox = [];
  let waiter;
  let failure;
  let onDead;
  const dead = new Promise((_, reject) => {
    onDead = reject;
  });
  dead.catch(() => {});
  const fail = (error) => {
    failure ??= error;
    onDead(failure);
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.reject(failure);
    }
  };
  child.on('message', (message) => {
    if (message === null || typeof message !== 'object' || typeof message.ctl !== 'string') {
      onData?.(message);
      return;
    }
    if (message.ctl === 'error') {
      const error = new Error(message.message);
      error.verification = message.verification;
      return fail(error);
    }
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.resolve(message);
    } else inbox.push(message);
  });
  child.on('error', (error) => {
    // A send to a child that is dying (EPIPE): its own last error, still in the channel, says more.
    if (error?.code === 'EPIPE') setTimeout(() => fail(error), 100).unref();
    else fail(error);
  });
  child.on('exit', (code, signal) => {
    children.delete(child);
    // Let an 'error' message still in the channel arrive first: it says more.
    setTimeout(() => fail(new Error(`${cfg.role} exited (code ${code}, signal ${signal})`)), 100).unref();
  });
  return {
    child,
    pid: child.pid,
    send(message) {
      if (!child.connected) return;
      try {
        child.send(message);
      } catch {
        // EPIPE: the child is gone; its exit (or its last error) fails the case through `dead`
      }
    },
    expect(ctl, timeoutMs = defaultTimeoutMs) {
      const match = (message) => {
        if (message.ctl !== ctl) throw new Error(`${cfg.role}: expected '${ctl}', got '${message.ctl}'`);
        return message;
      };
      if (inbox.length > 0) return Promise.resolve(inbox.shift()).then(match);
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = undefined;
          reject(new Error(`${cfg.role}: no '${ctl}' within ${timeoutMs} ms`));
        }, timeoutMs);
        waiter = {
          resolve: (message) => {
            clearTimeout(timer);
            try {
              resolve(match(message));
            } catch (error) {
              reject(error);
            }
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
      });
    },
    /** Rejects when the child reports an error or exits. */
    dead,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // Not events.once: it rejects on an 'error' event (an EPIPE of a send to the dying child).
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
