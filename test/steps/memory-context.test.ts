import { describe, expect, it } from 'vitest';
import { InvalidFlagValueError } from '../../functions/shared/errors';
import { FLAG_NAMES, parseFlagValue } from '../../functions/shared/flags';
import {
  bucketOf,
  isEnabledFor,
  MEMORY_CONTEXT_OFF,
  parseMemoryContextFlag,
  probeProjects,
  serializeMemoryContextFlag,
} from '../../functions/shared/memory-context';

describe('features/memory-context flag', () => {
  it('is a registered flag whose value is validated JSON, returned as the string it was', () => {
    expect(FLAG_NAMES).toContain('features/memory-context');
    const value = '{"enabled":true,"percentage":10,"allowList":["internal-test"]}';
    expect(parseFlagValue('features/memory-context', value)).toBe(value);
    expect(parseMemoryContextFlag(value)).toEqual({
      enabled: true,
      percentage: 10,
      allowList: ['internal-test'],
    });
  });

  it.each([
    ['not JSON', 'true', /\(root\): Invalid input: expected object, received boolean/],
    ['broken JSON', '{"enabled":', /not valid JSON/],
    [
      '"on" as a string',
      '{"enabled":"on","percentage":100,"allowList":[]}',
      /enabled: Invalid input: expected boolean/,
    ],
    ['a percentage above 100', '{"enabled":true,"percentage":150,"allowList":[]}', /percentage: Too big/],
    [
      'a fractional percentage',
      '{"enabled":true,"percentage":2.5,"allowList":[]}',
      /percentage: Invalid input: expected int/,
    ],
    [
      'an unknown key (a typo)',
      '{"enabled":false,"percentage":0,"allowList":[],"enable":true}',
      /Unrecognized key: "enable"/,
    ],
    [
      'a duplicate project',
      '{"enabled":true,"percentage":0,"allowList":["a","a"]}',
      /each project id may appear once/,
    ],
    [
      'an unsafe project id',
      '{"enabled":true,"percentage":0,"allowList":["../x"]}',
      /allowList.0: letters, digits/,
    ],
  ])(
    'refuses %s with InvalidFlagValueError naming the flag and the reason, never as "on"',
    (_n, value, reason) => {
      expect(() => parseMemoryContextFlag(value)).toThrow(InvalidFlagValueError);
      expect(() => parseMemoryContextFlag(value)).toThrow(
        /^Flag "features\/memory-context" has an invalid value: /,
      );
      expect(() => parseMemoryContextFlag(value)).toThrow(reason);
      expect(() => parseFlagValue('features/memory-context', value)).toThrow(InvalidFlagValueError);
    },
  );

  it('serialises a document to the same text every time, and refuses an invalid one', () => {
    expect(serializeMemoryContextFlag(MEMORY_CONTEXT_OFF)).toBe(
      '{"enabled":false,"percentage":0,"allowList":[]}',
    );
    expect(serializeMemoryContextFlag({ allowList: ['b'], percentage: 5, enabled: true })).toBe(
      '{"enabled":true,"percentage":5,"allowList":["b"]}',
    );
    expect(() => serializeMemoryContextFlag({ enabled: true, percentage: -1, allowList: [] })).toThrow();
  });
});

describe('who gets the feature', () => {
  it('buckets are stable per project and spread evenly enough for a canary', () => {
    expect(bucketOf('project-42')).toBe(bucketOf('project-42'));
    const buckets = Array.from({ length: 5000 }, (_, i) => bucketOf(`p-${i}`));
    expect(Math.min(...buckets)).toBe(0);
    expect(Math.max(...buckets)).toBe(99);
    const tenPercent = buckets.filter((b) => b < 10).length / buckets.length;
    expect(tenPercent).toBeGreaterThan(0.08);
    expect(tenPercent).toBeLessThan(0.12);
  });

  it('off for everyone unless enabled; allow-listed projects always when enabled; the rest by percentage', () => {
    const inside = probeProjects({ enabled: true, percentage: 10, allowList: [] }).inside as string;
    const outside = probeProjects({ enabled: true, percentage: 10, allowList: [] }).outside as string;
    expect(bucketOf(inside)).toBeLessThan(10);
    expect(bucketOf(outside)).toBeGreaterThanOrEqual(10);
    const canary = { enabled: true, percentage: 10, allowList: ['internal-test'] };
    expect(isEnabledFor(canary, 'internal-test')).toBe(true);
    expect(isEnabledFor(canary, inside)).toBe(true);
    expect(isEnabledFor(canary, outside)).toBe(false);
    expect(isEnabledFor({ ...canary, enabled: false }, 'internal-test')).toBe(false);
    expect(isEnabledFor({ ...canary, percentage: 100 }, outside)).toBe(true);
    // A project that was in stays in as the percentage grows (sticky).
    for (const p of [10, 50, 100]) expect(isEnabledFor({ ...canary, percentage: p }, inside)).toBe(true);
  });

  it('probe projects: none inside at 0 %, none outside at 100 %, never an allow-listed one', () => {
    expect(probeProjects({ enabled: true, percentage: 0, allowList: [] }).inside).toBeNull();
    expect(probeProjects({ enabled: true, percentage: 100, allowList: [] }).outside).toBeNull();
    const first = probeProjects({ enabled: true, percentage: 50, allowList: [] });
    const avoiding = probeProjects({
      enabled: true,
      percentage: 50,
      allowList: [first.inside as string, first.outside as string],
    });
    expect([avoiding.inside, avoiding.outside]).not.toContain(first.inside);
    expect([avoiding.inside, avoiding.outside]).not.toContain(first.outside);
  });
});
