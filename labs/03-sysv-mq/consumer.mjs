// Lab 3 consumer: picks messages by type with msgrcv's msgtyp argument.
import { SysvMessageQueue } from 'shmkit';

const log = (...args) => console.log(`[consumer ${process.pid}]`, ...args);
const queue = SysvMessageQueue.open({ key: Number(process.argv[2]) });
const show = (how, { type, data }) => log(`${how} -> type ${type}: ${JSON.stringify(data.toString())}`);

// type > 0: the first message of exactly that type, wherever it is in the queue.
show('msgrcv(type 3)', queue.receiveSync({ type: 3, timeoutMs: 1000 }));
// type < 0: the first message with the lowest type <= |type|.
show('msgrcv(type -2)', queue.receiveSync({ type: -2, timeoutMs: 1000 }));
show('msgrcv(type -2)', queue.receiveSync({ type: -2, timeoutMs: 1000 }));
// type 0: simply the oldest message.
for (let message = queue.tryReceive(); message; message = queue.tryReceive()) show('msgrcv(type 0)', message);
log(`queue empty: ${queue.stat().messages} messages`);
queue.close();
