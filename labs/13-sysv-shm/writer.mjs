// Lab 13 writer: attaches the segment by key, writes a line, detaches, exits.
import { SysvSharedMemory } from 'shmkit';

const log = (...args) => console.log(`[writer ${process.pid}]`, ...args);
const shm = SysvSharedMemory.open(Number(process.argv[2])); // shmget(key, 0, 0): the id
const bytes = new Uint8Array(shm.attach()); // shmat(id, NULL, 0)
log(`attached id ${shm.id}: nattch ${shm.stat().nattch}`);
Buffer.from(`hello from the writer, pid ${process.pid}`).copy(bytes);
shm.close(); // shmdt: the segment and its bytes stay
log('wrote a line, detached, exiting');
