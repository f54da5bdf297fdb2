/**
 * shmkit — kernel IPC for Node.js.
 * @packageDocumentation
 */

export type { Capabilities } from './addon.js';
export { capabilities } from './addon.js';
export type { Codec, CodecKind, CodecSpec } from './codecs.js';
export type { SystemError } from './errors.js';
export { AbortError, ClosedError, systemError } from './errors.js';
export type { FifoReaderOptions, FifoWriterOptions } from './fifo.js';
export { DEFAULT_MAX_FRAME_BYTES, FIFO_REGISTRY, Fifo, FrameDecoder, FrameEncoder } from './fifo.js';
export type { FutexWaitResult, FutexWaitSyncOptions } from './futex.js';
export { futex } from './futex.js';
export type { Inventory, IpcKind, IpcObject, ListOptions } from './inventory.js';
export { IPC_KINDS, listObjects, scanInventory } from './inventory.js';
export type {
  MessageQueueCreateOptions,
  MessageQueueOpenOptions,
  MessageQueueStat,
  MessageReceiveAsyncOptions,
  MessageReceiveOptions,
  MessageReceiveSyncOptions,
  MessageSendAsyncOptions,
  MessageSendOptions,
  MessageSendSyncOptions,
  SysvMessage,
} from './message-queue.js';
export { ftok, MessageQueue, MSG_TYPE_MAX } from './message-queue.js';
export type { LockSyncOptions, MutexCreateOptions, MutexGuard } from './mutex.js';
export { Mutex } from './mutex.js';
export type { WaitOptions } from './pending.js';
export type {
  PosixMessage,
  PosixMessageQueueAttributes,
  PosixMessageQueueCreateOptions,
  PosixSendAsyncOptions,
  PosixSendOptions,
  PosixSendSyncOptions,
  PosixSyncWaitOptions,
} from './posix-message-queue.js';
export { MQ_PRIO_MAX, PosixMessageQueue } from './posix-message-queue.js';
export type { FieldLayout, FieldType, FieldValue, RecordOf, ScalarFieldType, Schema } from './record-schema.js';
export { compileSchema, RecordCodec } from './record-schema.js';
export type {
  RingBufferCreateOptions,
  RingBufferOpenOptions,
  RingStats,
  Side,
  SyncWaitOptions,
} from './ring-buffer.js';
export { RingBuffer } from './ring-buffer.js';
export type { SemaphoreCreateOptions, SemaphoreWaitOptions, WaitSyncOptions } from './semaphore.js';
export { SEM_VALUE_MAX, Semaphore } from './semaphore.js';
export type { SharedMemoryCreateOptions, SharedMemoryOpenOptions, SharedMemoryStat } from './shared-memory.js';
export { SharedMemory } from './shared-memory.js';
export type { SignalInfo, SignalListenOptions, SignalOnceOptions, SignalSendOptions, Subscription } from './signals.js';
export { signals } from './signals.js';
export type {
  TypedQueueCodecOpenOptions,
  TypedQueueCodecOptions,
  TypedQueueCommonOptions,
  TypedQueueCreateOptions,
  TypedQueueKind,
  TypedQueueRecordOpenOptions,
  TypedQueueRecordOptions,
} from './typed-queue.js';
export { recordCapacityBytes, TypedQueue } from './typed-queue.js';
