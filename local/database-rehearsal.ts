import { randomBytes } from 'node:crypto';
import { LocalPgvector, targetSchemaSql } from './pgvector';
import { type GeneratedCollection, generateCollection, QdrantStandin } from './qdrant-standin';
import type { WorldOptions } from './world';

/**
 * The stores of a local database cutover: a generated Qdrant collection served by the stand-in,
 * and PostgreSQL with pgvector (PGlite behind a socket) holding seed 002's target schema. Used by
 * the rehearsal (`npm run rehearse -- database-cutover`) and the benchmark.
 */
export interface LocalDatabase {
  readonly pgvector: LocalPgvector;
  readonly standin: QdrantStandin;
  readonly collection: GeneratedCollection;
  /** What World.start needs: the runtime `database` section and the SecureString values it names. */
  readonly world: NonNullable<WorldOptions['database']>;
  close(): Promise<void>;
}

export async function startLocalDatabase(
  options: {
    readonly environment?: string;
    readonly count?: number;
    readonly size?: number;
    readonly malformed?: number;
    /** PostgreSQL databases (of the world's data section) to back up before the migration. */
    readonly backups?: readonly string[];
  } = {},
): Promise<LocalDatabase> {
  const env = options.environment ?? 'rehearsal';
  const size = options.size ?? 64;
  const collection = generateCollection({
    count: options.count ?? 2_000,
    size,
    malformed: options.malformed ?? 12,
  });
  const qdrantKey = `qk-${randomBytes(12).toString('hex')}`;
  const standin = await QdrantStandin.start({
    collection: 'dac_memory',
    size,
    distance: 'Cosine',
    points: collection.points,
    apiKey: qdrantKey,
  });
  const pgvector = await LocalPgvector.start();
  await pgvector.db.exec(targetSchemaSql({ dimension: size, indexOpclass: 'vector_cosine_ops' }));
  await pgvector.db.exec(
    `INSERT INTO attachments (org_id, file_data, storage_path) VALUES ('org-a', '\\x00'::bytea, NULL), ('org-b', NULL, 'org-b/a.pdf')`,
  );
  const prefix = `/switchback/${env}`;
  const secrets = {
    [`${prefix}/database/legacy-url`]: pgvector.url(`legacy-${randomBytes(12).toString('hex')}`, 'legacy'),
    [`${prefix}/database/pgvector-url`]: pgvector.url(`pg-${randomBytes(12).toString('hex')}`),
    [`${prefix}/secrets/qdrant-api-key`]: qdrantKey,
  };
  const config = {
    connections: {
      legacy: { urlParameter: `${prefix}/database/legacy-url` },
      pgvector: { urlParameter: `${prefix}/database/pgvector-url` },
    },
    source: {
      connection: 'legacy',
      qdrant: {
        url: standin.url,
        collection: 'dac_memory',
        apiKeyParameter: `${prefix}/secrets/qdrant-api-key`,
      },
    },
    target: { connection: 'pgvector' },
    // The local server has one port; on AWS this is 6543, seed 002's transaction pooler.
    poolerPort: pgvector.port,
    migration: { batchSize: 250, timeBudgetSeconds: 1 },
    // PGlite is WebAssembly on a laptop: the latency target is for the production database.
    gates: { searchLatencyMs: 1_000 },
    monitoringWindowSeconds: 2,
    backups: [...(options.backups ?? [])],
  };
  return {
    pgvector,
    standin,
    collection,
    world: { config, secrets },
    async close() {
      await standin.close();
      await pgvector.close();
    },
  };
}
