import { z } from 'zod';

/**
 * The application's own configuration Switchback watches beside its flags (seed 001's
 * `ENABLE_CACHING`, `AUTONOMOUS_MODE` and worker count, on the mem0 service and the MCP service):
 * SSM parameters the app reads, each with the validator a value must pass and who reads it how.
 * Shared by the stage configuration (lib/config/) and the runtime configuration of the steps.
 */
const VALIDATOR_TYPE =
  'The kind of value: `boolean` (`true` or `false`), `integer` (from `min` to `max`) or `enum` (one of `values`).';

export const WatchedValidator = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('boolean').describe(VALIDATOR_TYPE) }),
  z.strictObject({
    type: z.literal('integer').describe(VALIDATOR_TYPE),
    min: z.number().int().describe('Smallest value allowed.'),
    max: z.number().int().describe('Largest value allowed.'),
  }),
  z.strictObject({
    type: z.literal('enum').describe(VALIDATOR_TYPE),
    values: z.array(z.string().min(1)).min(1).describe('The values allowed.'),
  }),
]);
export type WatchedValidator = z.infer<typeof WatchedValidator>;

/**
 * How a reader takes the value: `at-start` (environment or secret at task start: a restart applies
 * a change) or `per-request` (read on every request: nothing to restart).
 */
export const ReadMode = z.enum(['at-start', 'per-request']);
export type ReadMode = z.infer<typeof ReadMode>;

export const WatchedParameter = z.strictObject({
  name: z
    .string()
    .regex(/^(\/[A-Za-z0-9_.-]+)+$/, 'an SSM path such as /memory/prod/mem0/ENABLE_CACHING')
    .describe('The full SSM parameter name the app reads.'),
  validator: WatchedValidator.describe(
    'What a valid value is (a rollback restores only a value that passes).',
  ),
  readers: z
    .array(
      z.strictObject({
        service: z.string().min(1).describe("The protected service (a key of the journal's services)."),
        reads: ReadMode.describe('`at-start` (a restart applies a change) or `per-request`.'),
      }),
    )
    .min(1, 'at least one reader')
    .describe('The services that read it (keys of the protected services), and how.'),
  secure: z
    .boolean()
    .default(false)
    .describe('SecureString: only versions are ever recorded, never a value (and none is ever read).'),
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
  table: z.string().min(1).describe('The journal table.'),
  retentionDays: z.number().int().min(1).max(3650).describe('Days an entry is kept (DynamoDB TTL).'),
  bakeMinutes: z
    .number()
    .int()
    .min(1)
    .max(1440)
    .describe('Minutes a state must stay in service with no rollback alarm in ALARM to be last known good.'),
  services: z
    .record(z.string().min(1), z.string().min(1))
    .describe('Protected ECS services by key (`api`, `sidecar`, and any the stage adds) -> service name.'),
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
