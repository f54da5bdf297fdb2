// The server child of a call row (bench/calls.mjs): one method, add({ a, b }) → a + b,
// served over the row's transport until the parent kills it. cfg (argv[2]):
// { primitive, name? (svc: the service's shm name), path? (uds-rpc: the socket's path) }.
// 'ready' once clients can call; errors go back as { ctl: 'error' } (bench/control.mjs).
import { once } from 'node:events';
import net from 'node:net';
import * as shmkit from 'shmkit';
import { answerHook } from './calls.mjs';
import { die, listenForControl, send } from './control.mjs';

const cfg = JSON.parse(process.argv[2] ?? '{}');
// SHMKIT_BENCH_DROP=<id> / <id>:wrong: call 2 is never answered, or answered wrong.
const hook = answerHook(cfg.primitive);
const NEVER = new Promise(() => {});

/** The answer to add(a, b), or undefined when the test hook drops it. */
function add(a, b) {
  const h = hook(a);
  if (h === 'drop') return undefined;
  return h === 'wrong' ? a + b + 1 : a + b;
}

function ipcServer() {
  listenForControl((m) => {
    const r = add(m.a, m.b);
    if (r !== undefined) process.send({ id: m.id, r });
  });
}

/** JSON-RPC 2.0, newline-delimited: the answers to one chunk's requests go out in one write. */
async function udsServer(path) {
  const server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    let rest = '';
    socket.on('data', (chunk) => {
      const text = rest + chunk;
      let start = 0;
      let out = '';
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        const request = JSON.parse(text.slice(start, nl));
        start = nl + 1;
        const r = add(request.params.a, request.params.b);
        if (r !== undefined) out += `${JSON.stringify({ jsonrpc: '2.0', id: request.id, result: r })}\n`;
      }
      rest = text.slice(start);
      if (out) socket.write(out);
    });
    socket.on('error', die);
  });
  server.listen(path);
  await once(server, 'listening');
}

async function svcServer(name) {
  const svc = shmkit.Service.create(name);
  svc.handle('add', ({ a, b }) => {
    const r = add(a, b);
    return r === undefined ? NEVER : r;
  });
  await svc.listen();
}

try {
  if (cfg.primitive === 'ipc-rpc') ipcServer();
  else {
    listenForControl();
    if (cfg.primitive === 'uds-rpc') await udsServer(cfg.path);
    else await svcServer(cfg.name);
  }
  await send({ ctl: 'ready' });
} catch (error) {
  die(error);
}
