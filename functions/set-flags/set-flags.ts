import { z } from 'zod';
import { assertFlagName, type FlagName, parseFlagValue } from '../shared/flags';
import { defineStep } from '../shared/step';

const Input = z.strictObject({
  changes: z
    .array(z.strictObject({ name: z.string(), value: z.string() }))
    .min(1)
    .refine((c) => new Set(c.map((x) => x.name)).size === c.length, 'each flag may appear once'),
});

export interface AppliedFlag {
  readonly name: FlagName;
  readonly value: string;
  readonly version: number;
  /** False when the flag already held the value (a re-run changes nothing). */
  readonly changed: boolean;
}

/**
 * Sets flags to the given values. Every name and value is validated before the first write, so a
 * bad change list changes nothing. Flags already at their value are left alone (idempotent).
 */
export const setFlags = defineStep({
  name: 'set-flags',
  input: Input,
  async run(input, { flags, log }): Promise<{ flags: AppliedFlag[]; changed: number }> {
    const changes = input.changes.map((c) => {
      const name = assertFlagName(c.name);
      return { name, value: parseFlagValue(name, c.value) };
    });
    const applied: AppliedFlag[] = [];
    for (const { name, value } of changes) {
      const current = await flags.get(name);
      if (current.value === value) {
        applied.push({ name, value, version: current.version, changed: false });
        continue;
      }
      const next = await flags.put(name, value);
      log.info('flag set', { flag: name, from: current.value, to: value, version: next.version });
      applied.push({ name, value, version: next.version, changed: true });
    }
    return { flags: applied, changed: applied.filter((a) => a.changed).length };
  },
});
