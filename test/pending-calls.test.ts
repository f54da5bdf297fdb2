import { describe, expect, it } from 'vitest';
import { PendingCalls } from '../lib/services/pending-calls.js';

describe('PendingCalls (a client’s calls by id)', () => {
  it('finds, skips and removes calls by id, across laps of the table and the 32-bit wrap', () => {
    const table = new PendingCalls<{ id: number }>();
    const kept = { id: 5 };
    table.set(5, kept);
    // 5 + 64 shares 5's place in a 64-place table: freeId skips it.
    expect(table.freeId(5 + 64)).toBe(5 + 65);
    expect(table.get(5 + 64)).toBeUndefined();
    expect(table.delete(5 + 64)).toBe(false);
    // set() of an id whose place is taken (handed out before the lap) grows the table and keeps both.
    const other = { id: 5 + 64 };
    table.set(5 + 64, other);
    expect(table.get(5)).toBe(kept);
    expect(table.get(5 + 64)).toBe(other);
    expect(table.size).toBe(2);
    // Ids past 0xffffffff start again at 1.
    expect(table.freeId(0xffffffff)).toBe(0xffffffff);
    table.set(0xffffffff, { id: 0xffffffff });
    expect(table.get(0xffffffff)).toEqual({ id: 0xffffffff });
    expect(table.delete(5)).toBe(true);
    expect(table.has(5)).toBe(false);
    expect(table.values()).toHaveLength(2);
    table.clear();
    expect(table.size).toBe(0);
    expect(table.values()).toEqual([]);
  });

  it('agrees with a Map through 20,000 random issues and answers (the table grows past its first size)', () => {
    const table = new PendingCalls<{ id: number }>();
    const model = new Map<number, { id: number }>();
    let next = 0xffffff00; // wraps past 0xffffffff on the way
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let i = 0; i < 20_000; i++) {
      if (model.size === 0 || random() < 0.55) {
        const id = table.freeId(next);
        expect(model.has(id)).toBe(false);
        next = id >= 0xffffffff ? 1 : id + 1;
        const entry = { id };
        table.set(id, entry);
        model.set(id, entry);
      } else {
        const ids = [...model.keys()];
        const id = ids[Math.floor(random() * ids.length)] as number;
        expect(table.delete(id)).toBe(true);
        expect(table.delete(id)).toBe(false);
        model.delete(id);
      }
      expect(table.size).toBe(model.size);
    }
    expect(model.size).toBeGreaterThan(64);
    for (const [id, entry] of model) expect(table.get(id)).toBe(entry);
    expect(table.values().length).toBe(model.size);
  });
});
