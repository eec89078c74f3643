import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InvalidFlagValueError } from './errors';

/**
 * The Memory & Context feature flag (seed 003): one SSM String parameter holding a JSON document.
 * The app decides per request, sticky by project id: off for everyone unless `enabled`; when
 * enabled, on for every project in `allowList` and for the `percentage` of the other projects
 * whose stable bucket (0-99) is below it. The same module is used by the steps that write and
 * verify the flag and by the reference API that serves it, so both agree on who gets the feature.
 */
export const MEMORY_CONTEXT_FLAG = 'features/memory-context' as const;

/** A project id as the app knows it: what the allow-list holds and what the bucket is computed from. */
export const ProjectId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'letters, digits, "_", ".", ":" and "-", at most 128');

export const MemoryContextFlag = z.strictObject({
  enabled: z.boolean(),
  percentage: z.number().int().min(0).max(100),
  allowList: z
    .array(ProjectId)
    .max(500)
    .refine((ids) => new Set(ids).size === ids.length, 'each project id may appear once'),
});
export type MemoryContextFlag = z.infer<typeof MemoryContextFlag>;

/** Off for everyone: the flag's initial value and what an emergency disable writes. */
export const MEMORY_CONTEXT_OFF: MemoryContextFlag = Object.freeze({
  enabled: false,
  percentage: 0,
  allowList: [],
}) as MemoryContextFlag;

function issuesOf(raw: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return ['not valid JSON'];
  }
  const parsed = MemoryContextFlag.safeParse(json);
  if (parsed.success) return [];
  return parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/**
 * The flag registry's schema for the parameter's string value: it must be JSON and match
 * `MemoryContextFlag`. A value that does not is refused with every reason, never read as "on".
 */
export const MemoryContextFlagValue = z.string().superRefine((raw, ctx) => {
  for (const message of issuesOf(raw)) ctx.addIssue({ code: 'custom', message });
});

/** Parses the parameter's value; throws InvalidFlagValueError naming the flag and each reason. */
export function parseMemoryContextFlag(raw: string): MemoryContextFlag {
  const issues = issuesOf(raw);
  if (issues.length) {
    throw new InvalidFlagValueError(
      `Flag "${MEMORY_CONTEXT_FLAG}" has an invalid value: ${issues.join('; ')}`,
    );
  }
  return MemoryContextFlag.parse(JSON.parse(raw));
}

/** The parameter value for a flag document: always the same text for the same document. */
export function serializeMemoryContextFlag(flag: MemoryContextFlag): string {
  const valid = MemoryContextFlag.parse(flag);
  return JSON.stringify({
    enabled: valid.enabled,
    percentage: valid.percentage,
    allowList: valid.allowList,
  });
}

/** A project's stable bucket, 0-99: the same project always lands in the same bucket. */
export function bucketOf(projectId: string): number {
  const digest = createHash('sha256').update(`memory-context:${projectId}`).digest();
  return digest.readUInt32BE(0) % 100;
}

/** Whether the feature is on for this project under this flag document. */
export function isEnabledFor(flag: MemoryContextFlag, projectId: string): boolean {
  if (!flag.enabled) return false;
  if (flag.allowList.includes(projectId)) return true;
  return bucketOf(projectId) < flag.percentage;
}

/**
 * Deterministic probe project ids for checking a phase from outside: one the flag turns on by
 * percentage and one it leaves off (null where no such id exists, e.g. "inside" at 0 %).
 * Allow-listed ids are never used as probes.
 */
export function probeProjects(flag: MemoryContextFlag): { inside: string | null; outside: string | null } {
  let inside: string | null = null;
  let outside: string | null = null;
  for (let n = 0; n < 10_000 && (inside === null || outside === null); n++) {
    const id = `switchback-probe-${n}`;
    if (flag.allowList.includes(id)) continue;
    if (bucketOf(id) < flag.percentage) inside ??= id;
    else outside ??= id;
  }
  return { inside, outside };
}
