import { QdrantClient } from '@qdrant/js-client-rest';
import pg from 'pg';
import { VectorSourceUnavailableError, VectorTargetUnavailableError } from '../errors';
import type {
  CollectionInfo,
  DatabaseConnector,
  PointId,
  SourcePoint,
  SqlDatabase,
  SqlResult,
  SqlSession,
  VectorSource,
} from '../vector-stores';

/** SQLSTATE classes that mean "try again": connection exceptions, resources, operator intervention. */
const TRANSIENT_SQLSTATE = /^(08|53|57P0[123]|40001|40P01)/;

/**
 * The real stores: the official Qdrant JS client, and a small `pg` pool per connection URL. One
 * connector per Lambda container (module scope) so pools and clients live across invocations.
 * Error messages name the operation, never the URL (it carries the password).
 */
export class RealDatabaseConnector implements DatabaseConnector {
  private readonly pools = new Map<string, pg.Pool>();
  private readonly clients = new Map<string, QdrantClient>();

  constructor(private readonly options: { readonly poolSize?: number; readonly timeoutMs?: number } = {}) {}

  qdrant(settings: { url: string; collection: string; apiKey?: string }): VectorSource {
    const key = `${settings.url}\u0000${settings.apiKey ?? ''}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new QdrantClient({
        url: settings.url,
        // As a header rather than `apiKey`: the client would otherwise switch a URL without scheme to
        // https and print an unstructured warning for http (a private endpoint inside the VPC).
        ...(settings.apiKey === undefined ? {} : { headers: { 'api-key': settings.apiKey } }),
        timeout: this.options.timeoutMs ?? 30_000,
        // Compatibility is the operator's concern; the check is an extra request per container.
        checkCompatibility: false,
      });
      this.clients.set(key, client);
    }
    return new QdrantSource(client, settings.collection);
  }

  postgres(connectionUrl: string): SqlDatabase {
    let pool = this.pools.get(connectionUrl);
    if (!pool) {
      pool = new pg.Pool({
        connectionString: connectionUrl,
        max: this.options.poolSize ?? 2,
        connectionTimeoutMillis: this.options.timeoutMs ?? 10_000,
        idleTimeoutMillis: 30_000,
      });
      // An idle client's error (server restart) must not crash the process; the next query reconnects.
      pool.on('error', () => undefined);
      this.pools.set(connectionUrl, pool);
    }
    return new PgDatabase(pool);
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.end().catch(() => undefined)));
    this.pools.clear();
    this.clients.clear();
  }
}

class QdrantSource implements VectorSource {
  constructor(
    private readonly client: QdrantClient,
    private readonly name: string,
  ) {}

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err as Error & { status?: number };
      throw new VectorSourceUnavailableError(
        `Qdrant ${what} on collection "${this.name}" failed${e.status ? ` (HTTP ${e.status})` : ''}: ${e.message}`,
        { cause: err },
      );
    }
  }

  async collection(): Promise<CollectionInfo> {
    const info = await this.call('collection info', () => this.client.getCollection(this.name));
    const vectors = info.config.params.vectors as
      | { size: number; distance: string }
      | Record<string, { size: number; distance: string }>
      | undefined;
    const single =
      vectors && typeof vectors.size === 'number' ? (vectors as { size: number; distance: string }) : null;
    return {
      size: single?.size ?? null,
      distance: single?.distance ?? null,
      namedVectors: !single && vectors ? Object.keys(vectors) : null,
      pointsCount: info.points_count ?? null,
    };
  }

  async scroll(offset: PointId | null, limit: number) {
    const page = await this.call('scroll', () =>
      this.client.scroll(this.name, {
        limit,
        ...(offset === null ? {} : { offset }),
        with_payload: true,
        with_vector: true,
      }),
    );
    const next = page.next_page_offset;
    return {
      points: page.points as SourcePoint[],
      next: typeof next === 'number' || typeof next === 'string' ? next : null,
    };
  }

  async count(): Promise<number> {
    return (await this.call('count', () => this.client.count(this.name, { exact: true }))).count;
  }

  async search(vector: readonly number[], limit: number): Promise<PointId[]> {
    const result = await this.call('query', () =>
      this.client.query(this.name, { query: [...vector], limit, with_payload: false, with_vector: false }),
    );
    return result.points.map((p) => p.id);
  }

  async retrieve(ids: readonly PointId[]): Promise<SourcePoint[]> {
    return (await this.call('retrieve', () =>
      this.client.retrieve(this.name, { ids: [...ids], with_payload: true, with_vector: true }),
    )) as SourcePoint[];
  }
}

function targetError(err: unknown): Error {
  const e = err as Error & { code?: string };
  // Transient failures become the retried error; anything else (a bad statement, a constraint,
  // a named Switchback error) stays itself.
  const transientCode = e.code !== undefined && (TRANSIENT_SQLSTATE.test(e.code) || /^E[A-Z]+$/.test(e.code));
  const network =
    e.name === 'Error' &&
    /ECONNREFUSED|ECONNRESET|ETIMEDOUT|timeout|terminated|Connection ended/i.test(e.message);
  if (transientCode || network) {
    return new VectorTargetUnavailableError(`Target database: ${e.message}`, { cause: err });
  }
  return e;
}

class PgDatabase implements SqlDatabase {
  constructor(private readonly pool: pg.Pool) {}

  async query<R>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<R>> {
    try {
      const result = await this.pool.query(sql, params as unknown[]);
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    } catch (err) {
      throw targetError(err);
    }
  }

  async transaction<T>(
    fn: (session: SqlSession) => Promise<T>,
    options: { rollback?: boolean } = {},
  ): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw targetError(err);
    }
    const session: SqlSession = {
      async query<R>(sql: string, params: readonly unknown[] = []) {
        const result = await client.query(sql, params as unknown[]);
        return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
      },
    };
    try {
      await client.query('BEGIN');
      const out = await fn(session);
      await client.query(options.rollback ? 'ROLLBACK' : 'COMMIT');
      client.release();
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      throw targetError(err);
    }
  }
}
