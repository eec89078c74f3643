import { describe, expect, it } from 'vitest';
import { setFlags } from '../../functions/set-flags/set-flags';
import {
  FlagNotFoundError,
  InvalidFlagValueError,
  InvalidInputError,
  UnknownFlagError,
} from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { fakeDeps, MemoryFlagStore, SEED_FLAGS } from '../support/fakes';

describe('set-flags', () => {
  it('sets each flag, returning the new SSM versions', async () => {
    const deps = fakeDeps();
    const result = await invokeStep(
      setFlags,
      {
        changes: [
          { name: 'memory/provider', value: 'http' },
          { name: 'memory/http-base', value: 'https://mem0.internal:7070' },
        ],
      },
      deps,
    );
    expect(result).toEqual({
      changed: 2,
      flags: [
        { name: 'memory/provider', value: 'http', version: 2, changed: true },
        { name: 'memory/http-base', value: 'https://mem0.internal:7070', version: 2, changed: true },
      ],
    });
    expect(deps.flags.snapshot()).toMatchObject({
      'memory/provider': { value: 'http', version: 2 },
      'memory/http-base': { value: 'https://mem0.internal:7070', version: 2 },
      'maintenance-mode': { value: 'off', version: 1 },
    });
    expect(deps.log.lines).toContainEqual({
      level: 'info',
      message: 'flag set',
      extra: { flag: 'memory/provider', from: 'native', to: 'http', version: 2 },
    });
  });

  it('leaves flags already at their value alone: changed false, no new version', async () => {
    const deps = fakeDeps();
    const result = await invokeStep(
      setFlags,
      {
        changes: [
          { name: 'memory/provider', value: 'native' },
          { name: 'maintenance-mode', value: 'on' },
        ],
      },
      deps,
    );
    expect(result.changed).toBe(1);
    expect(result.flags[0]).toEqual({ name: 'memory/provider', value: 'native', version: 1, changed: false });
    expect(deps.flags.puts).toEqual([{ name: 'maintenance-mode', value: 'on', version: 2 }]);
  });

  it('writes nothing when a later flag parameter does not exist', async () => {
    const deps = fakeDeps({ flags: new MemoryFlagStore({ 'memory/provider': 'native' }) });
    await expect(
      invokeStep(
        setFlags,
        {
          changes: [
            { name: 'memory/provider', value: 'http' },
            { name: 'memory/http-base', value: 'https://mem0.internal:7070' },
          ],
        },
        deps,
      ),
    ).rejects.toThrow(FlagNotFoundError);
    expect(deps.flags.puts).toEqual([]);
    expect((await deps.flags.get('memory/provider')).value).toBe('native');
  });

  it('is idempotent: a re-run changes nothing', async () => {
    const deps = fakeDeps();
    const input = { changes: [{ name: 'memory/provider', value: 'http' }] };
    await invokeStep(setFlags, input, deps);
    const again = await invokeStep(setFlags, input, deps);
    expect(again).toEqual({
      changed: 0,
      flags: [{ name: 'memory/provider', value: 'http', version: 2, changed: false }],
    });
    expect(deps.flags.puts).toHaveLength(1);
  });

  it.each([
    [
      'first',
      [
        { name: 'memory/providr', value: 'http' },
        { name: 'maintenance-mode', value: 'on' },
      ],
    ],
    [
      'last',
      [
        { name: 'maintenance-mode', value: 'on' },
        { name: 'memory/providr', value: 'http' },
      ],
    ],
  ])('refuses an unknown flag (%s in the list) and writes nothing', async (_where, changes) => {
    const deps = fakeDeps();
    const err = await invokeStep(setFlags, { changes }, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownFlagError);
    expect((err as Error).message).toContain('"memory/providr"');
    expect(deps.flags.puts).toEqual([]);
  });

  it.each([
    ['memory/provider', 'mem0'],
    ['memory/http-base', 'ftp://sidecar'],
    ['memory/http-base', 'sidecar:7070'],
    ['maintenance-mode', 'ON'],
    ['automation/paused', 'yes'],
  ])('refuses %s = %j after valid entries, and writes nothing', async (name, value) => {
    const deps = fakeDeps();
    const changes = [
      { name: 'maintenance-mode', value: 'on' },
      { name: 'memory/provider', value: 'http' },
    ].filter((c) => c.name !== name);
    const err = await invokeStep(setFlags, { changes: [...changes, { name, value }] }, deps).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidFlagValueError);
    expect((err as Error).name).toBe('InvalidFlagValueError');
    expect((err as Error).message).toContain(`"${name}"`);
    expect(deps.flags.puts).toEqual([]);
    expect(deps.flags.snapshot()['maintenance-mode']).toEqual({
      value: SEED_FLAGS['maintenance-mode'],
      version: 1,
    });
  });

  it('refuses a flag named twice, writing nothing', async () => {
    const deps = fakeDeps();
    const err = await invokeStep(
      setFlags,
      {
        changes: [
          { name: 'memory/provider', value: 'http' },
          { name: 'memory/provider', value: 'native' },
        ],
      },
      deps,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toContain('each flag may appear once');
    expect(deps.flags.puts).toEqual([]);
  });

  it.each([
    ['an empty list', { changes: [] }],
    ['a missing value', { changes: [{ name: 'memory/provider' }] }],
    ['an extra key', { changes: [{ name: 'memory/provider', value: 'http', ttl: 5 }] }],
  ])('refuses %s', async (_what, input) => {
    const deps = fakeDeps();
    const err = await invokeStep(setFlags, input, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toContain('changes');
    expect(deps.flags.puts).toEqual([]);
  });
});
