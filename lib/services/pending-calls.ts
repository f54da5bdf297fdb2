/**
 * A client's calls waiting for their answers, by id: a table indexed by the
 * id's low bits. The client hands out ids in order and skips one whose place
 * is taken (a call still pending from a lap of the table ago), so a lookup
 * is one index and one compare. A Map did the same work, but a pipelined
 * client's steady stream of inserts and deletes made it reallocate its
 * hash table every few dozen calls, and those tables outlived the young
 * generation: they were the most bytes promoted per minor GC in the
 * pipelined bench's heap profile.
 */
export class PendingCalls<T extends object> {
  #ids = new Uint32Array(64);
  #entries: Array<T | undefined> = new Array(64).fill(undefined);
  #size = 0;

  /** How many calls are pending. */
  get size(): number {
    return this.#size;
  }

  get(id: number): T | undefined {
    const at = id & (this.#ids.length - 1);
    return this.#ids[at] === id ? this.#entries[at] : undefined;
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /**
   * The first id from `id` on (past 0xffffffff: from 1) whose place is free.
   * The table is at most half full, so the search ends within a few steps.
   */
  freeId(id: number): number {
    if (this.#size + 1 > this.#ids.length >>> 1) this.#grow();
    const mask = this.#ids.length - 1;
    while (this.#entries[id & mask] !== undefined) id = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }

  /** Registers call `id` (from freeId(); grows the table if its place is taken meanwhile). */
  set(id: number, entry: T): void {
    while (this.#entries[id & (this.#ids.length - 1)] !== undefined) this.#grow();
    const at = id & (this.#ids.length - 1);
    this.#ids[at] = id;
    this.#entries[at] = entry;
    this.#size++;
  }

  /** Removes call `id`; false if it was not pending. */
  delete(id: number): boolean {
    const at = id & (this.#ids.length - 1);
    if (this.#entries[at] === undefined || this.#ids[at] !== id) return false;
    this.#entries[at] = undefined;
    this.#ids[at] = 0; // no call has id 0
    this.#size--;
    return true;
  }

  /** The pending calls (a snapshot). */
  values(): T[] {
    return this.#entries.filter((entry): entry is T => entry !== undefined);
  }

  clear(): void {
    this.#entries.fill(undefined);
    this.#ids.fill(0);
    this.#size = 0;
  }

  /** Doubles the table; two ids that shared a place now have their own (their next bit differs) or share again, in which case set() doubles once more. */
  #grow(): void {
    const ids = this.#ids;
    const entries = this.#entries;
    const length = ids.length * 2;
    this.#ids = new Uint32Array(length);
    this.#entries = new Array(length).fill(undefined);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry === undefined) continue;
      const at = (ids[i] as number) & (length - 1);
      this.#ids[at] = ids[i] as number;
      this.#entries[at] = entry;
    }
  }
}
