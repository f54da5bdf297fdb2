// Lab 13 holder: attaches by key and stays attached; on 'write' writes a
// line at byte 64, on 'detach' detaches and exits.
import { SysvSharedMemory } from 'shmkit';

const log = (...args) => console.log(`[holder ${process.pid}]`, ...args);
const shm = SysvSharedMemory.open(Number(process.argv[2]));
const bytes = new Uint8Array(shm.attach());
process.send({ id: shm.id });
process.on('message', (message) => {
  if (message === 'write') {
    Buffer.from('written after IPC_RMID').copy(bytes, 64);
    log('wrote at byte 64 (the segment is removed, but we are still attached)');
    process.send('written');
  } else if (message === 'detach') {
    shm.close();
    process.disconnect();
  }
});
