import { z } from 'zod';
import {
  MEMORY_CONTEXT_FLAG,
  MEMORY_CONTEXT_OFF,
  parseMemoryContextFlag,
  serializeMemoryContextFlag,
} from '../shared/memory-context';
import { defineStep } from '../shared/step';

const Input = z.strictObject({});

export interface DisableResult {
  readonly flag: typeof MEMORY_CONTEXT_FLAG;
  /** SSM version now holding "off": what the app must report before the disable counts as verified. */
  readonly version: number;
  readonly changed: boolean;
  readonly previous: { readonly version: number; readonly state: 'off' | 'on' | 'invalid' };
}

/**
 * Emergency disable (seed 003: "Immediate Disable (< 1 minute)"): writes "off for everyone" to the
 * feature flag. It never needs the current value to be valid: a malformed flag is overwritten
 * with off like any other (the previous version stays in SSM's history). Already off: nothing
 * written, so a re-run is harmless.
 */
export const disableFeature = defineStep({
  name: 'disable-feature',
  input: Input,
  async run(_input, { flags, log }): Promise<DisableResult> {
    const off = serializeMemoryContextFlag(MEMORY_CONTEXT_OFF);
    const current = await flags.get(MEMORY_CONTEXT_FLAG);
    let state: DisableResult['previous']['state'];
    try {
      state = parseMemoryContextFlag(current.value).enabled ? 'on' : 'off';
    } catch {
      state = 'invalid';
    }
    const previous = { version: current.version, state };
    if (current.value === off)
      return { flag: MEMORY_CONTEXT_FLAG, version: current.version, changed: false, previous };
    const next = await flags.put(MEMORY_CONTEXT_FLAG, off);
    log.warn('feature disabled', { flag: MEMORY_CONTEXT_FLAG, from: state, version: next.version });
    return { flag: MEMORY_CONTEXT_FLAG, version: next.version, changed: true, previous };
  },
});
