/**
 * Ports of the database cutover: the vector source (Qdrant) and the target database (PostgreSQL
 * with pgvector). The Lambda handlers and the local world wire the same real adapters
 * (`./adapters/vector-stores`): the official Qdrant client and `pg`; tests point them at a Qdrant
 * stand-in and at PGlite served over a socket.
 */
import { ConfigurationError } from './errors';

/** A Qdrant point id: an unsigned integer or a UUID. */
export type PointId = number | string;

/** A point as Qdrant returns it from scroll or retrieve; the vector is unchecked (the migration checks it). */
export interface SourcePoint {
  readonly id: PointId;
  readonly vector?: unknown;
  readonly payload?: Record<string, unknown> | null;
}

export interface CollectionInfo {
  /** Vector size of the collection's (unnamed) vector; null when the collection uses named vectors. */
  readonly size: number | null;
  /** Qdrant distance: Cosine, Euclid, Dot or Manhattan; null with named vectors. */
  readonly distance: string | null;
  /** Names of the named vectors, when the collection has them. */
  readonly namedVectors: readonly string[] | null;
  readonly pointsCount: number | null;
}

export interface VectorSource {
  collection(): Promise<CollectionInfo>;
  /** One page, following Qdrant's `next_page_offset` (null on the last page). */
  scroll(offset: PointId | null, limit: number): Promise<{ points: SourcePoint[]; next: PointId | null }>;
  /** Exact count of the collection's points. */
  count(): Promise<number>;
  /** Qdrant's own nearest neighbours of `vector` (ids best first). */
  search(vector: readonly number[], limit: number): Promise<PointId[]>;
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
  qdrant(options: { url: string; collection: string; apiKey?: string }): VectorSource;
  postgres(connectionUrl: string): SqlDatabase;
}

export function connectorOf(deps: { readonly databases?: DatabaseConnector }): DatabaseConnector {
  if (!deps.databases) throw new ConfigurationError('This step needs database access (DatabaseConnector)');
  return deps.databases;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A valid Qdrant id: a safe unsigned integer or a UUID. */
export function isPointId(id: unknown): id is PointId {
  return (
    (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) ||
    (typeof id === 'string' && UUID.test(id))
  );
}

/** How a point id is kept in the target's `vector_id` text column, and read back. */
export function pointKey(id: PointId): string {
  return typeof id === 'number' ? String(id) : id.toLowerCase();
}
export function pointIdOf(key: string): PointId {
  return /^\d+$/.test(key) ? Number(key) : key;
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
