import { z } from 'zod';
import { DatabaseRuntimeConfig } from './database-config';
import { DrillRuntimeConfig } from './drill-config';
import { ConfigurationError } from './errors';
import { JournalRuntimeConfig } from './watched-config';

/**
 * What every step needs to know about its environment. Built by the CDK from the stage
 * configuration and handed to each Lambda as one JSON environment variable; built by the
 * rehearsal for local runs. Holds names and addresses only, never secret values.
 */
export const RuntimeConfig = z.object({
  environment: z.string().min(1),
  flagPrefix: z.string().startsWith('/'),
  endpoints: z.object({
    api: z.url({ protocol: /^https?$/ }),
    sidecar: z.url({ protocol: /^https?$/ }),
  }),
  services: z.object({
    cluster: z.string().min(1),
    api: z.string().min(1),
    sidecar: z.string().min(1),
  }),
  changeRecords: z.object({
    bucket: z.string().min(1),
    prefix: z.string().min(1),
  }),
  secrets: z.object({
    /** SecureString parameter holding the sidecar's API key, sent as a bearer token. */
    sidecarApiKeyParameter: z.string().startsWith('/').optional(),
  }),
  /** The data stores Switchback backs up and restores (absent: none configured). */
  data: z
    .object({
      /** PostgreSQL databases, by name, on the server the data task reaches through PGHOST/PGPORT/PGUSER. */
      postgres: z.object({ databases: z.array(z.string().min(1)) }),
      /** SQLite databases, by name, as files on the volume the data task mounts (EFS on AWS). */
      sqlite: z.object({ databases: z.record(z.string(), z.string().startsWith('/')) }),
      /** ECS network configuration for the data task (Fargate awsvpc). */
      network: z.object({
        subnets: z.array(z.string()),
        securityGroups: z.array(z.string()),
        assignPublicIp: z.enum(['ENABLED', 'DISABLED']),
      }),
      /** Services stopped while a restore runs (scaled to 0, then back). */
      writers: z.array(z.enum(['api', 'sidecar'])),
    })
    .optional(),
  /** The database cutover (seed 002): Qdrant -> pgvector, connections, gates (absent: not configured). */
  database: DatabaseRuntimeConfig.optional(),
  /** The change journal: its table, the protected services and the watched parameters. */
  journal: JournalRuntimeConfig.optional(),
  /** Rollback drills: the kinds allowed, the alarm, the wait for the rollback (absent: none allowed). */
  drills: DrillRuntimeConfig.optional(),
  timing: z.object({
    stabilityPollSeconds: z.number().int().min(1).max(300),
    stabilityMaxAttempts: z.number().int().min(1).max(200),
    httpTimeoutMs: z.number().int().min(100).max(60_000),
  }),
});
export type RuntimeConfig = z.infer<typeof RuntimeConfig>;

export const RUNTIME_CONFIG_ENV = 'SWITCHBACK_CONFIG';

/** Reads and validates the runtime configuration; throws ConfigurationError naming the bad field. */
export function loadRuntimeConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const raw = env[RUNTIME_CONFIG_ENV];
  if (!raw) throw new ConfigurationError(`Environment variable ${RUNTIME_CONFIG_ENV} is not set`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ConfigurationError(`${RUNTIME_CONFIG_ENV} is not valid JSON`, { cause: err });
  }
  return parseOrThrow(RuntimeConfig, json, ConfigurationError, RUNTIME_CONFIG_ENV);
}

/** Formats zod issues as `path: message` lines so an error names the exact field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  ErrorClass: new (message: string) => Error,
  what: string,
): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ErrorClass(`Invalid ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
