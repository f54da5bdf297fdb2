/**
 * shmkit — kernel IPC for Node.js.
 * @packageDocumentation
 */

export type { Capabilities } from './core/binding.js';
export { capabilities } from './core/binding.js';
export type { SystemError } from './core/errors.js';
export { AbortError, ClosedError, systemError } from './core/errors.js';
export type { SyncWaitOptions, WaitOptions, WaitSyncOptions } from './core/pending.js';
export type { FifoReaderOptions, FifoWriterOptions } from './primitives/fifo.js';
export { DEFAULT_MAX_FRAME_BYTES, FIFO_REGISTRY, Fifo, FrameDecoder, FrameEncoder } from './primitives/fifo.js';
export type { FutexWaitResult, FutexWaitSyncOptions } from './primitives/futex.js';
export { futex } from './primitives/futex.js';
export type {
  PosixMessage,
  PosixMessageQueueAttributes,
  PosixMessageQueueCreateOptions,
  PosixSendAsyncOptions,
  PosixSendOptions,
  PosixSendSyncOptions,
  PosixSyncWaitOptions,
} from './primitives/posix-mq.js';
export { MQ_PRIO_MAX, PosixMessageQueue } from './primitives/posix-mq.js';
export { type ProcessExitOptions, ProcessWatch, type ProcessWatchOptions } from './primitives/process-watch.js';
export type { SemaphoreCreateOptions, SemaphoreWaitOptions } from './primitives/semaphore.js';
export { SEM_VALUE_MAX, Semaphore } from './primitives/semaphore.js';
export type {
  SharedMemoryCreateOptions,
  SharedMemoryOpenOptions,
  SharedMemoryStat,
  SharedMemoryWindow,
} from './primitives/shm.js';
export { SharedMemory } from './primitives/shm.js';
export type {
  SignalInfo,
  SignalListenOptions,
  SignalOnceOptions,
  SignalSendOptions,
  Subscription,
} from './primitives/signals.js';
export { signals } from './primitives/signals.js';
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
  SysvMessageQueueCreateOptions,
  SysvMessageQueueOpenOptions,
  SysvMessageQueueStat,
} from './primitives/sysv-mq.js';
export { ftok, MessageQueue, MSG_TYPE_MAX, SysvMessageQueue } from './primitives/sysv-mq.js';
export {
  type CallOptions,
  type ChunkOf,
  Client,
  type ClientConnectOptions,
  type ClientDisconnectReason,
  type MethodName,
  type ParamsOf,
  type ResultOf,
  type ServiceMethods,
} from './services/client.js';
export type { Connection, DisconnectReason } from './services/connection.js';
export { RemoteError } from './services/errors.js';
export type { CallContext } from './services/in-flight.js';
export type { MethodStats } from './services/metrics.js';
export {
  type Handler,
  Service,
  type ServiceCloseOptions,
  type ServiceInfo,
  type ServiceOptions,
  type ServiceStats,
} from './services/service.js';
export type { Codec, CodecKind, CodecSpec } from './structures/codecs.js';
export type { LockSyncOptions, MutexCreateOptions, MutexGuard } from './structures/mutex.js';
export { Mutex } from './structures/mutex.js';
export type {
  FieldLayout,
  FieldType,
  FieldValue,
  RecordOf,
  ScalarFieldType,
  Schema,
} from './structures/record-schema.js';
export { compileSchema, RecordCodec } from './structures/record-schema.js';
export type {
  RingBufferCreateOptions,
  RingBufferOpenOptions,
  RingStats,
  Side,
} from './structures/ring/ring-buffer.js';
export { RingBuffer } from './structures/ring/ring-buffer.js';
export type { SlowSubscriberPolicy } from './structures/topic/format.js';
export type { TopicInfo, TopicSubscriberInfo } from './structures/topic/info.js';
export { Subscriber, type SubscriberStats, type TopicSubscribeOptions } from './structures/topic/subscriber.js';
export { Topic, type TopicCreateOptions, type TopicStats } from './structures/topic/topic.js';
export type {
  TypedQueueCodecOpenOptions,
  TypedQueueCodecOptions,
  TypedQueueCommonOptions,
  TypedQueueCreateOptions,
  TypedQueueKind,
  TypedQueueRecordOpenOptions,
  TypedQueueRecordOptions,
} from './structures/typed-queue.js';
export { recordCapacityBytes, TypedQueue } from './structures/typed-queue.js';
export type { Inventory, IpcKind, IpcObject, ListOptions } from './tooling/inventory.js';
export { IPC_KINDS, listObjects, scanInventory } from './tooling/inventory.js';
