/**
 * Temporary bridge, to be deleted: lib/structures still call the futex
 * binding directly, under its old flat names. Once they wait and wake only
 * through lib/primitives/futex.ts (issue 9), nothing imports this file.
 * New code uses `binding` from ./binding.js.
 */
import { binding, type FutexBinding } from './binding.js';

/** @deprecated The old flat futex names; use lib/primitives/futex.ts. */
export const native = {
  futexWaitSync: (...args: Parameters<FutexBinding['waitSync']>) => binding.futex.waitSync(...args),
  futexWake: (...args: Parameters<FutexBinding['wake']>) => binding.futex.wake(...args),
} as const;
