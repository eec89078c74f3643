import { z } from 'zod';

/**
 * The application's own configuration Switchback watches beside its flags (seed 001's
 * `ENABLE_CACHING`, `AUTONOMOUS_MODE` and worker count, on the mem0 service and the MCP service):
 * SSM parameters the app reads, each with the validator a value must pass and who reads it how.
 * Shared by the stage configuration (lib/config/) and the runtime configuration of the steps.
 */
export const WatchedValidator = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('boolean') }),
  z.strictObject({ type: z.literal('integer'), min: z.number().int(), max: z.number().int() }),
  z.strictObject({ type: z.literal('enum'), values: z.array(z.string().min(1)).min(1) }),
]);
export type WatchedValidator = z.infer<typeof WatchedValidator>;

/**
 * How a reader takes the value: `at-start` (environment or secret at task start: a restart applies
 * a change) or `per-request` (read on every request: nothing to restart).
 */
export const ReadMode = z.enum(['at-start', 'per-request']);
export type ReadMode = z.infer<typeof ReadMode>;

export const WatchedParameter = z.strictObject({
  /** The full SSM parameter name the app reads. */
  name: z.string().regex(/^(\/[A-Za-z0-9_.-]+)+$/, 'an SSM path such as /memory/prod/mem0/ENABLE_CACHING'),
  validator: WatchedValidator,
  /** The services that read it (keys of the protected services), and how. */
  readers: z
    .array(z.strictObject({ service: z.string().min(1), reads: ReadMode }))
    .min(1, 'at least one reader'),
  /** SecureString: only versions are ever recorded, never a value (and none is ever read). */
  secure: z.boolean().default(false),
});
export type WatchedParameter = z.infer<typeof WatchedParameter>;

/** Watched parameters by key (`mem0/ENABLE_CACHING`): the key names it in the journal and in inputs. */
export const WatchedParameters = z.record(
  z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'a key such as mem0/ENABLE_CACHING'),
  WatchedParameter,
);
export type WatchedParameters = z.infer<typeof WatchedParameters>;

/** What the journal step knows about the environment (names only, never values or secrets). */
export const JournalRuntimeConfig = z.object({
  /** The journal table. */
  table: z.string().min(1),
  /** Days an entry is kept (DynamoDB TTL). */
  retentionDays: z.number().int().min(1).max(3650),
  /** Minutes a state must stay in service with no rollback alarm in ALARM to be last known good. */
  bakeMinutes: z.number().int().min(1).max(1440),
  /** Protected ECS services by key (`api`, `sidecar`, and any the stage adds) -> service name. */
  services: z.record(z.string().min(1), z.string().min(1)),
  watched: WatchedParameters,
});
export type JournalRuntimeConfig = z.infer<typeof JournalRuntimeConfig>;

/** Checks a value against its validator; returns why it fails, or null when it passes. */
export function invalidReason(validator: WatchedValidator, value: string): string | null {
  switch (validator.type) {
    case 'boolean':
      return value === 'true' || value === 'false' ? null : 'not "true" or "false"';
    case 'integer': {
      if (!/^-?\d+$/.test(value)) return 'not an integer';
      const n = Number(value);
      return n < validator.min || n > validator.max ? `outside ${validator.min}..${validator.max}` : null;
    }
    case 'enum':
      return validator.values.includes(value) ? null : `not one of ${validator.values.join(', ')}`;
  }
}

/** The watched parameter with that full SSM name (with or without its leading "/"), if any. */
export function watchedByName(
  watched: WatchedParameters,
  name: string,
): { key: string; parameter: WatchedParameter } | undefined {
  const wanted = name.startsWith('/') ? name : `/${name}`;
  for (const [key, parameter] of Object.entries(watched)) {
    if (parameter.name === wanted) return { key, parameter };
  }
  return undefined;
}
