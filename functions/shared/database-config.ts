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
  minSuccessRate: z
    .number()
    .min(0)
    .max(1)
    .default(0.95)
    .describe('Migration gate: succeeded / (total - skipped). Seed 002: 95 %.'),
  targetMigrationSeconds: z
    .number()
    .int()
    .min(1)
    .default(1800)
    .describe("The migration's duration is recorded against this (seed 002: 30 minutes)."),
  recallTarget: z
    .number()
    .min(0)
    .max(1)
    .default(0.95)
    .describe("Mean recall@10 of pgvector against Qdrant's own results over the sample queries."),
  recallFloor: z
    .number()
    .min(0)
    .max(1)
    .default(0.85)
    .describe('No single sample query may fall below this recall@10.'),
  recallQueries: z
    .number()
    .int()
    .min(1)
    .max(500)
    .default(20)
    .describe('Sample query vectors for the recall gate.'),
  payloadSamples: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(20)
    .describe('Points whose payload (and vector) are compared between Qdrant and the target.'),
  searchLatencyMs: z
    .number()
    .int()
    .min(1)
    .max(60_000)
    .default(100)
    .describe('Smoke test: a vector search must answer within this (seed 002: < 100 ms).'),
});
export type DatabaseGates = z.infer<typeof DatabaseGates>;

export const DatabaseRuntimeConfig = z.strictObject({
  connections: z
    .record(
      ConnectionName,
      z.strictObject({
        urlParameter: SecureParameter.describe(
          'SSM SecureString parameter holding the connection URL (postgresql://user:password@host:port/db).',
        ),
      }),
    )
    .describe('Named connections; `database/active` holds one of these names.'),
  source: z
    .strictObject({
      connection: ConnectionName.describe(
        'The connection the backend uses before the cutover (its vectors live in Qdrant).',
      ),
      qdrant: z
        .strictObject({
          url: z.url({ protocol: /^https?$/ }).describe("Base URL of Qdrant's REST API."),
          collection: z.string().min(1).max(255).describe('The collection migrated.'),
          apiKeyParameter: SecureParameter.optional().describe(
            'SSM SecureString parameter with the Qdrant API key (sent as the `api-key` header).',
          ),
          vector: z
            .string()
            .min(1)
            .max(255)
            .refine((name) => !/[\s"]/.test(name), 'a Qdrant vector name (no spaces or quotes)')
            .optional()
            .describe(
              "The named vector to migrate, for a collection with named vectors (`vectors: { name: {...} }`); absent: the collection's one unnamed vector. The mapping gate refuses a collection with named vectors and no name set, and any collection with sparse vectors.",
            ),
        })
        .describe('The Qdrant collection the vectors are read from.'),
    })
    .describe('Where the vectors are before the cutover.'),
  target: z
    .strictObject({
      connection: ConnectionName.describe(
        'The connection the backend uses after the cutover (PostgreSQL with pgvector).',
      ),
      table: TableName.default('memory_fragments').describe(
        'Table the vectors go to; see README for its columns (vector_id unique, org_id, embedding, payload).',
      ),
      attachmentsTable: TableName.default('attachments').describe(
        "Attachments table of seed 002's consistency SQL (file_data / storage_path).",
      ),
      orgPayloadKey: z
        .string()
        .min(1)
        .max(64)
        .default('org_id')
        .describe('Payload key holding the organisation id (the row level security key).'),
      appRole: Identifier.default('app_user').describe(
        "Role the application's sessions run as; RLS is checked as this role.",
      ),
      orgSetting: z
        .string()
        .regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/, 'a custom setting such as app.current_org')
        .default('app.current_org')
        .describe(
          'Session setting the RLS policies read the organisation from (set with SET LOCAL semantics).',
        ),
    })
    .describe('Where the vectors go: PostgreSQL with pgvector.'),
  poolerPort: z
    .number()
    .int()
    .min(1)
    .max(65_535)
    .nullable()
    .default(6543)
    .describe('Seed 002: the new URL must use the transaction pooler (6543). null: not checked.'),
  migration: z
    .strictObject({
      batchSize: z
        .number()
        .int()
        .min(1)
        .max(10_000)
        .default(500)
        .describe('Points per scroll page and per upsert batch.'),
      timeBudgetSeconds: z
        .number()
        .min(0.05)
        .max(780)
        .default(600)
        .describe(
          'Each invocation stops starting batches after this long and returns its cursor (Lambda limit: 900 s).',
        ),
    })
    .default({ batchSize: 500, timeBudgetSeconds: 600 })
    .describe('How the migration pages through the collection.'),
  gates: DatabaseGates.default(DatabaseGates.parse({})).describe('The go/no-go thresholds of seed 002.'),
  monitoringWindowSeconds: z
    .number()
    .int()
    .min(0)
    .max(86_400)
    .default(1800)
    .describe('Seed 002 step 6: watch this long after the switch (alarms in it start the rollback router).'),
  storageUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('Storage the smoke test must reach (seed 002 5e); absent: not checked.'),
  backups: z
    .array(z.string().min(1))
    .default([])
    .describe(
      'PostgreSQL databases (of `data.postgres`) backed up and verified before the migration writes.',
    ),
  reportPrefix: z
    .string()
    .min(1)
    .default('database-cutovers')
    .describe('Where reports, checkpoints and gate evidence go in the backup bucket.'),
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
