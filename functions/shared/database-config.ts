import { z } from 'zod';
import { ConfigurationError } from './errors';

/**
 * The database cutover's runtime configuration (seed 002): where the vectors come from (Qdrant),
 * where they go (a PostgreSQL table with a pgvector column), the named connections the
 * `database/active` flag chooses between, and the gates' thresholds. Names and addresses only:
 * every secret (a connection URL, the Qdrant API key) is named by its SSM SecureString parameter
 * and resolved by the step that needs it, never carried in an execution.
 */

/** A connection's name: what `database/active` holds. */
export const ConnectionName = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'a-z, 0-9 and "-", at most 40');

/** A (optionally schema-qualified) SQL identifier, lower case: it is quoted into statements. */
export const TableName = z
  .string()
  .regex(
    /^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$/,
    'a lower-case table name, optionally schema.table',
  );

const Identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier');
const SecureParameter = z.string().startsWith('/');

export const DatabaseGates = z.strictObject({
  /** Migration gate: succeeded / (total - skipped). Seed 002: 95 %. */
  minSuccessRate: z.number().min(0).max(1).default(0.95),
  /** The migration's duration is recorded against this (seed 002: 30 minutes). */
  targetMigrationSeconds: z.number().int().min(1).default(1800),
  /** Mean recall@10 of pgvector against Qdrant's own results over the sample queries. */
  recallTarget: z.number().min(0).max(1).default(0.95),
  /** No single sample query may fall below this recall@10. */
  recallFloor: z.number().min(0).max(1).default(0.85),
  /** Sample query vectors for the recall gate. */
  recallQueries: z.number().int().min(1).max(500).default(20),
  /** Points whose payload (and vector) are compared between Qdrant and the target. */
  payloadSamples: z.number().int().min(1).max(1000).default(20),
  /** Smoke test: a vector search must answer within this (seed 002: < 100 ms). */
  searchLatencyMs: z.number().int().min(1).max(60_000).default(100),
});
export type DatabaseGates = z.infer<typeof DatabaseGates>;

export const DatabaseRuntimeConfig = z.strictObject({
  /** Named connections; `database/active` holds one of these names. */
  connections: z.record(
    ConnectionName,
    z.strictObject({
      /** SSM SecureString parameter holding the connection URL (postgresql://user:password@host:port/db). */
      urlParameter: SecureParameter,
    }),
  ),
  source: z.strictObject({
    /** The connection the backend uses before the cutover (its vectors live in Qdrant). */
    connection: ConnectionName,
    qdrant: z.strictObject({
      url: z.url({ protocol: /^https?$/ }),
      collection: z.string().min(1).max(255),
      /** SSM SecureString parameter with the Qdrant API key (sent as the `api-key` header). */
      apiKeyParameter: SecureParameter.optional(),
      /**
       * The named vector to migrate, for a collection with named vectors (`vectors: { name: {...} }`);
       * absent: the collection's one unnamed vector. The mapping gate refuses a collection with named
       * vectors and no name set, and any collection with sparse vectors.
       */
      vector: z
        .string()
        .min(1)
        .max(255)
        .refine((name) => !/[\s"]/.test(name), 'a Qdrant vector name (no spaces or quotes)')
        .optional(),
    }),
  }),
  target: z.strictObject({
    /** The connection the backend uses after the cutover (PostgreSQL with pgvector). */
    connection: ConnectionName,
    /** Table the vectors go to; see README for its columns (vector_id unique, org_id, embedding, payload). */
    table: TableName.default('memory_fragments'),
    /** Attachments table of seed 002's consistency SQL (file_data / storage_path). */
    attachmentsTable: TableName.default('attachments'),
    /** Payload key holding the organisation id (the row level security key). */
    orgPayloadKey: z.string().min(1).max(64).default('org_id'),
    /** Role the application's sessions run as; RLS is checked as this role. */
    appRole: Identifier.default('app_user'),
    /** Session setting the RLS policies read the organisation from (set with SET LOCAL semantics). */
    orgSetting: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/, 'a custom setting such as app.current_org')
      .default('app.current_org'),
  }),
  /** Seed 002: the new URL must use the transaction pooler (6543). null: not checked. */
  poolerPort: z.number().int().min(1).max(65_535).nullable().default(6543),
  migration: z
    .strictObject({
      /** Points per scroll page and per upsert batch. */
      batchSize: z.number().int().min(1).max(10_000).default(500),
      /** Each invocation stops starting batches after this long and returns its cursor (Lambda limit: 900 s). */
      timeBudgetSeconds: z.number().min(0.05).max(780).default(600),
    })
    .default({ batchSize: 500, timeBudgetSeconds: 600 }),
  gates: DatabaseGates.default(DatabaseGates.parse({})),
  /** Seed 002 step 6: watch this long after the switch (alarms in it start the rollback router). */
  monitoringWindowSeconds: z.number().int().min(0).max(86_400).default(1800),
  /** Storage the smoke test must reach (seed 002 5e); absent: not checked. */
  storageUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** PostgreSQL databases (of `data.postgres`) backed up and verified before the migration writes. */
  backups: z.array(z.string().min(1)).default([]),
  /** Where reports, checkpoints and gate evidence go in the backup bucket. */
  reportPrefix: z.string().min(1).default('database-cutovers'),
});
export type DatabaseRuntimeConfig = z.infer<typeof DatabaseRuntimeConfig>;

/** The database section of a step's configuration; a step wired without one is a configuration error. */
export function databaseConfigOf(config: {
  readonly database?: DatabaseRuntimeConfig;
}): DatabaseRuntimeConfig {
  if (!config.database) throw new ConfigurationError('This environment has no database cutover configured');
  return config.database;
}

/** The URL parameter of a named connection; an unknown name is a configuration error. */
export function connectionParameter(db: DatabaseRuntimeConfig, name: string): string {
  const connection = db.connections[name];
  if (!connection) {
    throw new ConfigurationError(
      `No database connection "${name}" (configured: ${Object.keys(db.connections).join(', ')})`,
    );
  }
  return connection.urlParameter;
}

/** Prefix of one cutover's objects: `<reportPrefix>/<env>/<changeId>`. */
export function cutoverPrefix(db: DatabaseRuntimeConfig, environment: string, changeId: string): string {
  return `${db.reportPrefix.replace(/\/+$/, '')}/${environment}/${changeId}`;
}
