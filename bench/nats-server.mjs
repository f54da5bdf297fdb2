// A real nats-server for test/nats.test.ts and the NATS rows of `shmkit bench` (bench/nats.mjs):
// Debian's `nats-server` on 127.0.0.1 at a free port, with JetStream storing into a temp dir (so a
// restart keeps the streams). start() resolves once it accepts connections; restart() stops it and
// starts it again on the same port and store.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export class NatsServer {
  #binary;
  #child;
  #log = '';

  constructor(binary, port, storeDir) {
    this.#binary = binary;
    this.port = port;
    this.storeDir = storeDir;
  }

  get url() {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The server, started; or why it cannot be (no binary, it would not start). */
  static async start() {
    const binary = findBinary();
    if (!binary) return 'nats-server is not installed (apt-get install nats-server)';
    const server = new NatsServer(binary, await freePort(), fs.mkdtempSync(path.join(os.tmpdir(), 'shmkit-nats-')));
    try {
      await server.#spawn();
    } catch (error) {
      await server.stop();
      return `nats-server would not start: ${error.message}`;
    }
    return server;
  }

  /** Stops the server (SIGTERM) and starts it again on the same port and store. */
  async restart() {
    await this.#kill();
    await this.#spawn();
  }

  /** The running server's pid (undefined while stopped). */
  get pid() {
    return this.#child?.pid;
  }

  /** Freezes the server (SIGSTOP): it reads, answers and acknowledges nothing until resume(). For tests. */
  pause() {
    this.#child?.kill('SIGSTOP');
  }

  /** Lets a paused server go on (SIGCONT). */
  resume() {
    this.#child?.kill('SIGCONT');
  }

  /** Stops it and removes its store. */
  async stop() {
    await this.#kill();
    fs.rmSync(this.storeDir, { recursive: true, force: true });
  }

  async #spawn() {
    const args = ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir];
    const child = spawn(this.#binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#log = '';
    const collect = (chunk) => {
      this.#log += chunk;
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const exited = new Promise((_, reject) =>
      child.once('exit', (code) => reject(new Error(`exited with ${code}: ${this.#log.slice(-500)}`))),
    );
    exited.catch(() => {});
    const deadline = Date.now() + 10_000;
    for (;;) {
      // Ready: it accepts connections, and JetStream has started (its log says so).
      if ((await canConnect(this.port)) && /Server is ready/.test(this.#log)) return;
      if (Date.now() > deadline) throw new Error(`not ready after 10 s: ${this.#log.slice(-500)}`);
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 20)), exited]);
    }
  }

  async #kill() {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT'); // a paused one would not see the SIGTERM
    child.kill('SIGTERM');
    await gone;
  }
}

/** The nats-server binary, or undefined when it is not installed. */
export function findBinary() {
  for (const candidate of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (fs.existsSync(candidate)) return candidate;
  }
  try {
    return execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
