import { randomBytes } from 'node:crypto';
import { DatabaseRuntimeConfig } from '../../functions/shared/database-config';
import { type LocalPgvector, targetSchemaSql } from '../../local/pgvector';
import {
  type Defect,
  type Distance,
  type GeneratedCollection,
  generateCollection,
  QdrantStandin,
} from '../../local/qdrant-standin';

export const TARGET_URL_PARAMETER = '/switchback/test/database/pgvector-url';
export const LEGACY_URL_PARAMETER = '/switchback/test/database/legacy-url';
export const QDRANT_KEY_PARAMETER = '/switchback/test/secrets/qdrant-api-key';
export const COLLECTION = 'dac_memory';

/** A secret that must never appear in any output: the target's password. */
export function newPassword(): string {
  return `pw-${randomBytes(12).toString('hex')}`;
}

export interface DatabaseFixture {
  readonly standin: QdrantStandin;
  readonly collection: GeneratedCollection;
  readonly password: string;
  readonly qdrantKey: string;
  /** SecureString parameter name -> value, for the secret store. */
  readonly secrets: Record<string, string>;
  readonly config: DatabaseRuntimeConfig;
  close(): Promise<void>;
}

/**
 * A generated collection served by the Qdrant stand-in, and the target schema (re)created in the
 * shared PGlite server; the target URL carries a fresh password and uses the server's port as
 * the "pooler" port (the local server has one port; the pooler check itself is unit-tested).
 */
export async function databaseFixture(
  pgvector: LocalPgvector,
  options: {
    count?: number;
    size?: number;
    malformed?: number;
    /** The target column's dimension (default: the collection's). */
    targetDimension?: number;
    distance?: Distance;
    indexOpclass?: string;
    legacyUrl?: string;
    config?: Record<string, unknown>;
    /** Named vectors (the collection's config) and which of them the points carry. */
    named?: { vector: string; other?: string };
    /** A sparse vector beside the dense one(s). */
    sparse?: string;
    hugeIds?: boolean;
    kinds?: readonly Defect[];
    /** Extra `source.qdrant` settings (the vector name). */
    qdrant?: Record<string, unknown>;
  } = {},
): Promise<DatabaseFixture> {
  const size = options.size ?? 16;
  const collection = generateCollection({
    count: options.count ?? 600,
    size,
    malformed: options.malformed ?? 8,
    vectorName: options.named?.vector,
    otherVector: options.named?.other,
    sparseName: options.sparse,
    hugeIds: options.hugeIds,
    kinds: options.kinds,
  });
  const distance = options.distance ?? 'Cosine';
  const qdrantKey = `qk-${randomBytes(8).toString('hex')}`;
  const standin = await QdrantStandin.start({
    collection: COLLECTION,
    size,
    distance,
    ...(options.named
      ? {
          vectors: Object.fromEntries(
            [options.named.vector, options.named.other]
              .filter((n): n is string => n !== undefined)
              .map((n) => [n, { size, distance }]),
          ),
        }
      : {}),
    ...(options.sparse ? { sparseVectors: [options.sparse] } : {}),
    points: collection.points,
    apiKey: qdrantKey,
  });
  await pgvector.db.exec(
    targetSchemaSql({ dimension: options.targetDimension ?? size, indexOpclass: options.indexOpclass }),
  );
  // Attachments as seed 002 leaves them: file data or a storage path, never neither.
  await pgvector.db.exec(`
    INSERT INTO attachments (org_id, file_data, storage_path) VALUES
      ('org-a', '\\x00ff'::bytea, NULL), ('org-b', NULL, 'org-b/report.pdf'), ('org-c', '\\x01'::bytea, 'org-c/a.png');
  `);
  const password = newPassword();
  const secrets = {
    [TARGET_URL_PARAMETER]: pgvector.url(password),
    [LEGACY_URL_PARAMETER]: options.legacyUrl ?? pgvector.url(newPassword(), 'legacy'),
    [QDRANT_KEY_PARAMETER]: qdrantKey,
  };
  const config = DatabaseRuntimeConfig.parse({
    connections: {
      legacy: { urlParameter: LEGACY_URL_PARAMETER },
      pgvector: { urlParameter: TARGET_URL_PARAMETER },
    },
    target: { connection: 'pgvector' },
    poolerPort: pgvector.port,
    migration: { batchSize: 64, timeBudgetSeconds: 0.05 },
    // Latency is measured for the report; PGlite on a busy 2-core CI runner is not the production target.
    gates: { searchLatencyMs: 2_000, recallQueries: 10, payloadSamples: 15 },
    monitoringWindowSeconds: 1,
    ...options.config,
    source: {
      connection: 'legacy',
      qdrant: {
        url: standin.url,
        collection: COLLECTION,
        apiKeyParameter: QDRANT_KEY_PARAMETER,
        ...(options.qdrant ?? {}),
      },
    },
  });
  return {
    standin,
    collection,
    password,
    qdrantKey,
    secrets,
    config,
    close: () => standin.close(),
  };
}

/** Rows of the target: how many, how many distinct point ids, and per organisation. */
export async function targetRows(pgvector: LocalPgvector, table = 'memory_fragments') {
  const { rows } = await pgvector.db.query<{ n: number; ids: number; with_vectors: number }>(
    `SELECT count(*)::int AS n, count(DISTINCT vector_id)::int AS ids, count(embedding)::int AS with_vectors FROM ${table}`,
  );
  return rows[0] as { n: number; ids: number; with_vectors: number };
}
