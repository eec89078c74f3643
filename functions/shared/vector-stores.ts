/**
 * Ports of the database cutover: the vector source (Qdrant) and the target database (PostgreSQL
 * with pgvector). The Lambda handlers and the local world wire the same real adapters
 * (`./adapters/vector-stores`): Qdrant's REST API, every answer read losslessly and checked against
 * the schemas of its specification (`./qdrant-schemas`), and `pg`; tests point them at a Qdrant
 * stand-in and at PGlite served over a socket.
 */
import { ConfigurationError } from './errors';

/**
 * A Qdrant point id: an unsigned 64-bit integer or a UUID (lower case). An integer a float64
 * holds exactly is a number; a larger one is its decimal digits, so it is never rounded.
 */
export type PointId = number | string;

/** A point as Qdrant returns it from scroll or retrieve; the vector is unchecked (the migration checks it). */
export interface SourcePoint {
  readonly id: PointId;
  /** Qdrant's `VectorStructOutput`: a dense vector, a multivector, or a map of named vectors (`{}`: none). */
  readonly vector?: unknown;
  readonly payload?: Record<string, unknown> | null;
}

/** One dense vector of the collection: the unnamed one (`name` null) or a named one. */
export interface DenseVectorConfig {
  readonly name: string | null;
  readonly size: number;
  /** Qdrant distance: Cosine, Euclid, Dot or Manhattan. */
  readonly distance: string;
  /** A multivector (several vectors per point, late interaction): no pgvector column holds it. */
  readonly multivector: boolean;
}

export interface CollectionInfo {
  /** The dense vectors: one unnamed, or the named ones; none for a sparse-only collection. */
  readonly vectors: readonly DenseVectorConfig[];
  /** Names of the sparse vectors. */
  readonly sparseVectors: readonly string[];
  readonly pointsCount: number | null;
}

/**
 * The vector the migration takes, given the stage's `source.qdrant.vector`: the unnamed vector
 * when none is named, the named one otherwise. A collection with sparse vectors, named vectors
 * but no name configured, a name it lacks, or a multivector, is refused with the reason.
 */
export function chooseVector(
  info: CollectionInfo,
  wanted: string | undefined,
):
  | { readonly vector: DenseVectorConfig; readonly problems: readonly [] }
  | { readonly vector: null; readonly problems: readonly string[] } {
  const problems: string[] = [];
  if (info.sparseVectors.length)
    problems.push(
      `the collection has sparse vectors (${info.sparseVectors.join(', ')}), which a pgvector vector(N) column cannot hold: not migrated`,
    );
  const named = info.vectors.filter((v) => v.name !== null);
  const unnamed = info.vectors.find((v) => v.name === null);
  let vector: DenseVectorConfig | undefined;
  if (wanted === undefined) {
    if (unnamed) vector = unnamed;
    else if (named.length)
      problems.push(
        `the collection has named vectors (${named.map((v) => v.name).join(', ')}): set database.source.qdrant.vector to the one to migrate`,
      );
    else problems.push('the collection has no dense vector');
  } else {
    vector = named.find((v) => v.name === wanted);
    if (!vector)
      problems.push(
        unnamed
          ? `database.source.qdrant.vector is "${wanted}" but the collection has one unnamed vector: remove the setting`
          : `the collection has no vector named "${wanted}" (it has ${named.map((v) => v.name).join(', ') || 'none'})`,
      );
  }
  if (vector?.multivector)
    problems.push(
      `the vector${vector.name ? ` "${vector.name}"` : ''} is a multivector: one vector(N) per row cannot hold it`,
    );
  return vector && problems.length === 0 ? { vector, problems: [] } : { vector: null, problems };
}

export interface VectorSource {
  collection(): Promise<CollectionInfo>;
  /** One page, following Qdrant's `next_page_offset` (null on the last page). */
  scroll(offset: PointId | null, limit: number): Promise<{ points: SourcePoint[]; next: PointId | null }>;
  /** Exact count of the collection's points. */
  count(): Promise<number>;
  /**
   * Qdrant's nearest neighbours of `vector` (ids best first), by the configured vector. `exact`
   * asks for a full scan instead of the HNSW index (the recall gate's reference).
   */
  search(
    vector: readonly number[],
    limit: number,
    options?: { readonly exact?: boolean },
  ): Promise<PointId[]>;
  retrieve(ids: readonly PointId[]): Promise<SourcePoint[]>;
}

export interface SqlResult<R> {
  readonly rows: R[];
  readonly rowCount: number;
}

export interface SqlSession {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<SqlResult<R>>;
}

export interface SqlDatabase extends SqlSession {
  /** Runs `fn` in one transaction on one connection, rolled back when `fn` throws or asks for it. */
  transaction<T>(fn: (session: SqlSession) => Promise<T>, options?: { rollback?: boolean }): Promise<T>;
}

/** Opens the stores from resolved settings; the connection URL never leaves the step that resolved it. */
export interface DatabaseConnector {
  /** `vector`: the named vector to read (the stage's `source.qdrant.vector`); absent: the unnamed one. */
  qdrant(options: { url: string; collection: string; apiKey?: string; vector?: string }): VectorSource;
  postgres(connectionUrl: string): SqlDatabase;
}

export function connectorOf(deps: { readonly databases?: DatabaseConnector }): DatabaseConnector {
  if (!deps.databases) throw new ConfigurationError('This step needs database access (DatabaseConnector)');
  return deps.databases;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const U64_MAX = 2n ** 64n - 1n;

/** A valid Qdrant id: a safe unsigned integer, the digits of a larger one up to 2^64 - 1, or a UUID. */
export function isPointId(id: unknown): id is PointId {
  if (typeof id === 'number') return Number.isSafeInteger(id) && id >= 0;
  if (typeof id !== 'string') return false;
  if (UUID.test(id)) return true;
  return /^\d{16,20}$/.test(id) && BigInt(id) > BigInt(Number.MAX_SAFE_INTEGER) && BigInt(id) <= U64_MAX;
}

/** An id as it goes into a request body: integers as JSON integers (a `bigint` beyond 2^53). */
export function wireId(id: PointId): number | bigint | string {
  return typeof id === 'string' && /^\d+$/.test(id) ? BigInt(id) : id;
}

/** How a point id is kept in the target's `vector_id` text column, and read back. */
export function pointKey(id: PointId): string {
  return typeof id === 'number' ? String(id) : id.toLowerCase();
}
export function pointIdOf(key: string): PointId {
  if (!/^\d+$/.test(key)) return key;
  const n = Number(key);
  return Number.isSafeInteger(n) ? n : key;
}

/** Qdrant distance -> the pgvector operator and operator class that rank the same way. */
export const DISTANCE_MAP: Readonly<Record<string, { operator: string; opclass: string }>> = {
  Cosine: { operator: '<=>', opclass: 'vector_cosine_ops' },
  Euclid: { operator: '<->', opclass: 'vector_l2_ops' },
  Dot: { operator: '<#>', opclass: 'vector_ip_ops' },
  Manhattan: { operator: '<+>', opclass: 'vector_l1_ops' },
};

/** A vector as pgvector's text input: `[1,2,3]`. */
export function vectorLiteral(vector: readonly number[]): string {
  return `[${vector.join(',')}]`;
}

/** Quotes a validated (schema-qualified) identifier. */
export function quoteTable(name: string): string {
  return name
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
}
