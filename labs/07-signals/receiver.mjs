// Lab 7 receiver: prints every signal with its siginfo, then counts.
import { signals } from 'shmkit';

const log = (...args) => console.log(`[child ${process.pid}]`, ...args);
let counting = false;
const usr1 = [];
const rt = [];

// shmkit's handler runs in signal context, writes the siginfo (si_pid,
// si_uid, si_value, si_code) into a pipe, and the event loop calls us.
const subscription = signals.listen(
  ['SIGUSR1', 'SIGRTMIN+1'],
  (info) => {
    if (!counting) {
      log(`${info.signal} from pid ${info.pid}, code ${info.code}, value ${info.value}`);
      process.send('got it');
      return;
    }
    if (info.signal === 'SIGUSR1') usr1.push({ ...info, order: rt.length });
    else rt.push(info);
    // Everything pending is delivered: 100 real-time signals and (at least) one SIGUSR1.
    if (rt.length === 100 && usr1.length === 1) report();
  },
  { ref: true },
);

function report() {
  const inOrder = rt.every((info, i) => info.value === i + 1);
  const senders = [...new Set([...usr1, ...rt].map((info) => info.pid))];
  // Standard signals: one "pending" bit per signal, so 5 sends while
  // pending become 1. Real-time signals: one queue entry per send.
  log(`SIGUSR1 arrived ${usr1.length} time(s) for 5 sent: standard signals coalesce`);
  log(`(it came after ${usr1[0]?.order} real-time ones: never rely on the order between different signals)`);
  log(`SIGRTMIN+1 arrived ${rt.length} times for 100 sent: real-time signals are queued`);
  log(`SIGRTMIN+1 values in order 1..100: ${inOrder ? 'yes' : 'no'}; sent by pid(s) ${senders.join(', ')}`);
  subscription.unsubscribe();
  process.disconnect();
}

process.on('message', () => {
  counting = true;
  process.send('counting');
});
process.send('ready');
setTimeout(() => {
  log(`timed out with ${rt.length} real-time signals and ${usr1.length} SIGUSR1`);
  process.exit(1);
}, 5000).unref();
