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
 * bad change list, or a flag parameter that does not exist, changes nothing. Flags already at their value are left alone (idempotent).
 */
export const setFlags = defineStep({
  name: 'set-flags',
  input: Input,
  async run(input, { flags, log }): Promise<{ flags: AppliedFlag[]; changed: number }> {
    const changes = input.changes.map((c) => {
      const name = assertFlagName(c.name);
      return { name, value: parseFlagValue(name, c.value) };
    });
    // Read every current value before the first write: a missing parameter also changes nothing.
    const current = await Promise.all(changes.map((c) => flags.get(c.name)));
    const applied: AppliedFlag[] = [];
    for (const [i, { name, value }] of changes.entries()) {
      const before = current[i] as (typeof current)[number];
      if (before.value === value) {
        applied.push({ name, value, version: before.version, changed: false });
        continue;
      }
      const next = await flags.put(name, value);
      log.info('flag set', { flag: name, from: before.value, to: value, version: next.version });
      applied.push({ name, value, version: next.version, changed: true });
    }
    return { flags: applied, changed: applied.filter((a) => a.changed).length };
  },
});
