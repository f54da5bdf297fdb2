/**
 * A service's shared header (./format.ts): its state, the server's identity
 * and limits, the doorbell, the counters and the slot table, over one
 * SharedMemory. Every field a peer reads is checked before it is used: a
 * header is shared memory, and another process may have written anything.
 */
import { codedError } from '../core/errors.js';
import { futex } from '../primitives/futex.js';
import { SharedMemory } from '../primitives/shm.js';
import { raiseSleepBit, wakeSleepers } from '../structures/wait-word.js';
import {
  COUNTER,
  type CounterName,
  DROP_REASONS,
  F64,
  headerBytes,
  I32,
  MAGIC,
  type ServiceState,
  SLOT,
  SLOT_STATE,
  STATE,
  STATE_NAMES,
  slotF64,
  slotI32,
  VERSION,
} from './format.js';

/** The limits a service is created with; clients read them from the header. */
export interface ServiceLimits {
  maxClients: number;
  maxInFlightPerClient: number;
  requestCapacityBytes: number;
  responseCapacityBytes: number;
}

/** Largest maxClients a header may claim (a bound on what a peer can make us scan). */
export const MAX_CLIENTS = 4096;

/** `ERR_SHMKIT_BAD_SERVICE`: the object is not a service header of this version, or its fields are out of range. */
export function badService(name: string, why: string): Error {
  return codedError('ERR_SHMKIT_BAD_SERVICE', `'${name}' is not a usable shmkit service: ${why}`);
}

export class ServiceHeader {
  readonly name: string;
  readonly shm: SharedMemory;
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;
  readonly limits: ServiceLimits;

  private constructor(name: string, shm: SharedMemory, limits: ServiceLimits) {
    this.name = name;
    this.shm = shm;
    this.#i32 = new Int32Array(shm.buffer, 0, headerBytes(limits.maxClients) / 4);
    this.#f64 = new Float64Array(shm.buffer, 0, headerBytes(limits.maxClients) / 8);
    this.limits = limits;
  }

  /** Creates the header (state 'starting') for `server` (pid, start time). */
  static create(
    name: string,
    limits: ServiceLimits,
    codec: number,
    mode: number,
    server: { pid: number; startTicks: number },
  ): ServiceHeader {
    const shm = SharedMemory.create(name, { size: headerBytes(limits.maxClients), mode });
    const header = new ServiceHeader(name, shm, limits);
    const i32 = header.#i32;
    header.setServer(server.pid, server.startTicks);
    i32[I32.version] = VERSION;
    i32[I32.codec] = codec;
    i32[I32.maxClients] = limits.maxClients;
    i32[I32.maxInFlightPerClient] = limits.maxInFlightPerClient;
    i32[I32.requestCapacityBytes] = limits.requestCapacityBytes;
    i32[I32.responseCapacityBytes] = limits.responseCapacityBytes;
    header.#f64[F64.createdAt] = Date.now();
    Atomics.store(i32, I32.magic, MAGIC); // last: a reader that sees the magic sees the rest
    return header;
  }

  /**
   * Opens an existing header and checks it.
   * @throws `ENOENT`; `ERR_SHMKIT_BAD_SERVICE` for an object that is not a
   * service header of this version or whose limits are out of range.
   */
  static open(name: string): ServiceHeader {
    const shm = SharedMemory.open(name);
    try {
      return new ServiceHeader(name, shm, ServiceHeader.#readLimits(name, shm));
    } catch (error) {
      shm.close();
      throw error;
    }
  }

  static #readLimits(name: string, shm: SharedMemory): ServiceLimits {
    if (shm.size < headerBytes(1)) throw badService(name, `${shm.size} bytes is too small for a header`);
    const i32 = new Int32Array(shm.buffer, 0, headerBytes(1) / 4);
    if (Atomics.load(i32, I32.magic) !== MAGIC)
      throw badService(name, 'no service magic (not a service, or still being created)');
    const version = i32[I32.version] as number;
    if (version !== VERSION) throw badService(name, `format version ${version}, this shmkit reads ${VERSION}`);
    const limits = {
      maxClients: i32[I32.maxClients] as number,
      maxInFlightPerClient: i32[I32.maxInFlightPerClient] as number,
      requestCapacityBytes: i32[I32.requestCapacityBytes] as number,
      responseCapacityBytes: i32[I32.responseCapacityBytes] as number,
    };
    if (limits.maxClients < 1 || limits.maxClients > MAX_CLIENTS)
      throw badService(name, `maxClients ${limits.maxClients}`);
    if (shm.size < headerBytes(limits.maxClients))
      throw badService(name, `${shm.size} bytes for ${limits.maxClients} slots`);
    if (limits.maxInFlightPerClient < 1) throw badService(name, `maxInFlightPerClient ${limits.maxInFlightPerClient}`);
    for (const key of ['requestCapacityBytes', 'responseCapacityBytes'] as const) {
      const bytes = limits[key];
      if (bytes < 64 || bytes > 2 ** 30 || (bytes & (bytes - 1)) !== 0) throw badService(name, `${key} ${bytes}`);
    }
    return limits;
  }

  get codec(): number {
    return this.#i32[I32.codec] as number;
  }

  get state(): ServiceState {
    // Closed, the mapping is gone (its buffer detached): Atomics.load would throw.
    if (this.#i32.length === 0) return 'closed';
    return STATE_NAMES[Atomics.load(this.#i32, I32.state)] ?? 'closed';
  }

  /** Sets the state and wakes whoever waits for a change of it. */
  setState(state: ServiceState): void {
    Atomics.store(this.#i32, I32.state, STATE[state]);
    futex.wake(this.#i32, I32.state);
  }

  /** Resolves once the state is no longer `state` (or at once). */
  async whileState(state: ServiceState, options: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    const value = STATE[state];
    while (Atomics.load(this.#i32, I32.state) === value) {
      const result = await futex.wait(this.#i32, I32.state, value, options);
      if (result === 'timed-out') throw codedError('ETIMEDOUT', `service '${this.name}' stayed ${state}`);
    }
  }

  /** The server: pid and start time. */
  get server(): { pid: number; startTicks: number } {
    return { pid: Atomics.load(this.#i32, I32.serverPid), startTicks: this.#f64[F64.serverStartTicks] as number };
  }

  setServer(pid: number, startTicks: number): void {
    this.#f64[F64.serverStartTicks] = startTicks;
    Atomics.store(this.#i32, I32.serverPid, pid);
  }

  get createdAt(): number {
    return this.#f64[F64.createdAt] as number;
  }

  /** The server: raises the doorbell's sleep bit before its last look at the rings; returns the value to sleep on. */
  armDoorbell(): number {
    return raiseSleepBit(this.#i32, I32.doorbell);
  }

  /** The server: sleeps while the doorbell holds `expected`. */
  sleepOnDoorbell(expected: number, options: { signal?: AbortSignal; ref?: boolean }): Promise<unknown> {
    return futex.wait(this.#i32, I32.doorbell, expected, options);
  }

  /** A client, after publishing requests: wakes the server if it may sleep (one load otherwise). */
  ringDoorbell(): void {
    wakeSleepers(this.#i32, I32.doorbell);
  }

  /** Wakes the server whatever its doorbell says (close, a departure). */
  wakeServer(): void {
    Atomics.add(this.#i32, I32.doorbell, 2);
    futex.wake(this.#i32, I32.doorbell);
  }

  /**
   * A client claims a free slot for process `pid` (CAS free → claimed) and
   * bumps its generation. Returns the slot and generation, or undefined when
   * every slot is taken.
   */
  claimSlot(pid: number, startTicks: number): { slot: number; generation: number } | undefined {
    for (let slot = 0; slot < this.limits.maxClients; slot++) {
      const at = slotI32(slot, SLOT.state);
      if (Atomics.compareExchange(this.#i32, at, SLOT_STATE.free, SLOT_STATE.claimed) !== SLOT_STATE.free) continue;
      const generation = Atomics.add(this.#i32, slotI32(slot, SLOT.generation), 1) + 1;
      Atomics.store(this.#i32, slotI32(slot, SLOT.reason), 0);
      this.#f64[slotF64(slot)] = startTicks;
      Atomics.store(this.#i32, slotI32(slot, SLOT.pid), pid);
      return { slot, generation };
    }
    return undefined;
  }

  /** One slot as it is now. */
  slot(slot: number): { state: number; generation: number; pid: number; startTicks: number } {
    return {
      state: Atomics.load(this.#i32, slotI32(slot, SLOT.state)),
      generation: Atomics.load(this.#i32, slotI32(slot, SLOT.generation)),
      pid: Atomics.load(this.#i32, slotI32(slot, SLOT.pid)),
      startTicks: this.#f64[slotF64(slot)] as number,
    };
  }

  /** The state word of slot `slot` (one atomic load: the serve loop scans these on every pass). */
  slotState(slot: number): number {
    return Atomics.load(this.#i32, slotI32(slot, SLOT.state));
  }

  /** Why the server ended the connection of slot `slot` ('' if it did not say). */
  slotReason(slot: number): string {
    return DROP_REASONS[Atomics.load(this.#i32, slotI32(slot, SLOT.reason))] ?? '';
  }

  /** The generation of slot `slot`. */
  slotGeneration(slot: number): number {
    return Atomics.load(this.#i32, slotI32(slot, SLOT.generation));
  }

  setSlotState(slot: number, state: number): void {
    Atomics.store(this.#i32, slotI32(slot, SLOT.state), state);
  }

  /**
   * Frees slot `slot` if it is still claimed at `generation` (the claim of a
   * client that died before announcing its rings). True if freed.
   */
  releaseClaim(slot: number, generation: number): boolean {
    if (this.slotGeneration(slot) !== generation) return false;
    const at = slotI32(slot, SLOT.state);
    if (Atomics.compareExchange(this.#i32, at, SLOT_STATE.claimed, SLOT_STATE.free) !== SLOT_STATE.claimed)
      return false;
    this.#slotFreed();
    return true;
  }

  /**
   * Frees a slot for the next client (its generation stays, and the next
   * claim bumps it), noting why the connection ended for its client.
   */
  freeSlot(slot: number, reason?: (typeof DROP_REASONS)[number]): void {
    Atomics.store(this.#i32, slotI32(slot, SLOT.reason), reason ? DROP_REASONS.indexOf(reason) : 0);
    Atomics.store(this.#i32, slotI32(slot, SLOT.pid), 0);
    Atomics.store(this.#i32, slotI32(slot, SLOT.state), SLOT_STATE.free);
    this.#slotFreed();
  }

  /** Tells clients waiting for a slot that one is free. */
  #slotFreed(): void {
    Atomics.add(this.#i32, I32.slotsFreed, 1);
    futex.wake(this.#i32, I32.slotsFreed);
  }

  /** The slots-freed counter, to wait on with {@link waitForFreedSlot}. */
  get slotsFreed(): number {
    return Atomics.load(this.#i32, I32.slotsFreed);
  }

  /** Sleeps until a slot is freed after `seen` was read from slotsFreed; 'timed-out' past timeoutMs. */
  waitForFreedSlot(seen: number, options: { timeoutMs?: number; signal?: AbortSignal }): Promise<unknown> {
    return futex.wait(this.#i32, I32.slotsFreed, seen, options);
  }

  /** The server only (one writer): adds to a counter. */
  count(name: CounterName, delta = 1): void {
    const at = COUNTER[name];
    this.#f64[at] = (this.#f64[at] as number) + delta;
  }

  /** The server only: sets a counter (inFlight, peakInFlight). */
  setCounter(name: CounterName, value: number): void {
    this.#f64[COUNTER[name]] = value;
  }

  counters(): Record<CounterName, number> {
    const out = {} as Record<CounterName, number>;
    for (const [key, at] of Object.entries(COUNTER)) out[key as CounterName] = this.#f64[at] as number;
    return out;
  }

  close(): void {
    this.shm.close();
  }

  /** Removes the header's name (shm_unlink(3)). */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }
}
