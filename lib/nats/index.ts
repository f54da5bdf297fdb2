/**
 * shmkit/nats — the same Service and Topic API across hosts, over NATS
 * (docs/beyond-one-host.md). Needs the optional peer dependency `nats`:
 * importing this entry without it throws `ERR_SHMKIT_NO_NATS`.
 * @packageDocumentation
 */
import { assertNatsResolvable } from './load.js';

assertNatsResolvable();

export { type BridgeTopicOptions, bridgeTopic } from './bridge.js';
export type { BridgeStats, BridgeStopOptions, TopicBridge } from './bridge-types.js';
export { type ExposedService, type ExposeServiceOptions, exposeService, type NatsCaller } from './expose.js';
export { connectService, RemoteClient, type RemoteServiceOptions } from './remote-client.js';
