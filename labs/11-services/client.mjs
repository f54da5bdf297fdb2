// Lab 11's client: argv[2] is what to do, argv[3] the service.
import { Client } from 'shmkit';

const [role, name] = process.argv.slice(2);
const log = (...args) => console.log(`[client ${process.pid}]`, ...args);
const client = await Client.connect(name, { timeoutMs: 5000 });

if (role === 'calls') {
  log('add(2, 3) =', await client.call('add', { a: 2, b: 3 }));
  const sums = await Promise.all(Array.from({ length: 100 }, (_, i) => client.call('add', { a: i, b: i })));
  log(`100 calls in flight at once: the last answer is ${sums[99]}`);
  try {
    await client.call('slow', 1000, { timeoutMs: 50 });
  } catch (error) {
    log(`slow(1000) with timeoutMs 50: ${error.code}`);
  }
  try {
    await client.call('nope');
  } catch (error) {
    log(`nope(): ${error.code}`);
  }
  await client.close();
} else if (role === 'hang') {
  for (let i = 0; i < 3; i++) client.call('slow', 60_000).catch(() => {});
  process.send('calling');
  setInterval(() => {}, 1000); // killed by the server's process
} else {
  const disconnected = new Promise((resolve) => client.once('disconnect', resolve));
  const slow = client.call('slow', 300);
  process.send('calling');
  client.on('goaway', async () => {
    try {
      await client.call('add', { a: 1, b: 1 });
    } catch (error) {
      log(`a new call during the drain: ${error.code}`);
    }
  });
  log(`the call in flight during the drain: ${await slow}`);
  log(`disconnected: ${await disconnected} (the service closed)`);
}
