/**
 * A real nats-server for test/nats.test.ts: the one `shmkit bench`'s NATS
 * rows start too (bench/nats-server.mjs): Debian's `nats-server` on
 * 127.0.0.1 at a free port, JetStream storing into a temp dir;
 * `NatsServer.start()` resolves with it, or with why it cannot start.
 */
export { NatsServer } from '../bench/nats-server.mjs';
