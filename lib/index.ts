/**
 * shmkit — kernel IPC for Node.js.
 * @packageDocumentation
 */

export type { Capabilities } from './addon.js';
export { capabilities } from './addon.js';
export type { SystemError } from './errors.js';
export { AbortError, ClosedError, systemError } from './errors.js';
export type { FutexWaitResult, FutexWaitSyncOptions } from './futex.js';
export { futex } from './futex.js';
export type { WaitOptions } from './pending.js';
export type { SemaphoreCreateOptions, SemaphoreWaitOptions, WaitSyncOptions } from './semaphore.js';
export { SEM_VALUE_MAX, Semaphore } from './semaphore.js';
export type { SharedMemoryCreateOptions, SharedMemoryOpenOptions, SharedMemoryStat } from './shared-memory.js';
export { SharedMemory } from './shared-memory.js';
