import pg from 'pg';
import type { z } from 'zod';
import {
  QdrantAuthenticationError,
  QdrantCollectionNotFoundError,
  QdrantRequestRejectedError,
  QdrantResponseInvalidError,
  VectorSourceUnavailableError,
  VectorTargetUnavailableError,
} from '../errors';
import { parseLossless, stringifyLossless } from '../lossless-json';
import {
  QdrantCollectionInfo,
  QdrantCountResult,
  QdrantErrorBody,
  QdrantQueryResponse,
  QdrantRetrieveResult,
  QdrantScrollResult,
  type QdrantVectorParams,
  qdrantEnvelope,
} from '../qdrant-schemas';
import {
  type CollectionInfo,
  type DatabaseConnector,
  type PointId,
  type SourcePoint,
  type SqlDatabase,
  type SqlResult,
  type SqlSession,
  type VectorSource,
  wireId,
} from '../vector-stores';

/** SQLSTATE classes that mean "try again": connection exceptions, resources, operator intervention. */
const TRANSIENT_SQLSTATE = /^(08|53|57P0[123]|40001|40P01)/;

/**
 * The real stores: Qdrant's REST API over `fetch`, and a small `pg` pool per connection URL. One
 * connector per Lambda container (module scope) so pools live across invocations.
 * Error messages name the operation, never the URL (it carries the password) nor the API key.
 */
export class RealDatabaseConnector implements DatabaseConnector {
  private readonly pools = new Map<string, pg.Pool>();

  constructor(
    private readonly options: {
      readonly poolSize?: number;
      readonly timeoutMs?: number;
      /** @default globalThis.fetch */
      readonly fetch?: typeof fetch;
    } = {},
  ) {}

  qdrant(settings: { url: string; collection: string; apiKey?: string; vector?: string }): VectorSource {
    return new QdrantSource({
      ...settings,
      fetch: this.options.fetch ?? ((input, init) => fetch(input, init)),
      timeoutMs: this.options.timeoutMs ?? 30_000,
    });
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
  }
}

interface QdrantSettings {
  readonly url: string;
  readonly collection: string;
  readonly apiKey?: string;
  readonly vector?: string;
  readonly fetch: typeof fetch;
  readonly timeoutMs: number;
}

/**
 * Qdrant's REST API, each answer read losslessly (ids above 2^53 kept exactly) and parsed with
 * the schemas of its specification. Failures are classified: no answer, 429 and 5xx are
 * transient (`VectorSourceUnavailableError`, retried by the state machine); 401/403, 404 and
 * other refusals, and an answer that does not match the specification, have their own names
 * and are not retried.
 */
class QdrantSource implements VectorSource {
  constructor(private readonly s: QdrantSettings) {}

  private async call<T extends z.ZodType>(
    what: string,
    path: string,
    body: Record<string, unknown> | undefined,
    schema: T,
  ): Promise<z.output<T>> {
    const where = `Qdrant ${what} on collection "${this.s.collection}"`;
    const url = `${this.s.url.replace(/\/+$/, '')}/collections/${encodeURIComponent(this.s.collection)}${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body) headers['content-type'] = 'application/json';
    if (this.s.apiKey !== undefined) {
      // fetch would refuse such a value with an error that quotes it: refuse it here, unquoted.
      if (!/^[\x21-\x7e]+$/.test(this.s.apiKey))
        throw new QdrantAuthenticationError(
          `${where}: the API key holds characters an HTTP header cannot carry (database.source.qdrant.apiKeyParameter)`,
        );
      headers['api-key'] = this.s.apiKey;
    }
    let status: number;
    let text: string;
    try {
      const res = await this.s.fetch(url, {
        method: body ? 'POST' : 'GET',
        headers,
        body: body ? stringifyLossless(body) : undefined,
        signal: AbortSignal.timeout(this.s.timeoutMs),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const reason =
        e.name === 'TimeoutError' || e.name === 'AbortError'
          ? `no answer within ${this.s.timeoutMs} ms`
          : (e.cause?.code ?? e.message);
      throw new VectorSourceUnavailableError(`${where} failed: ${reason}`, { cause: err });
    }
    if (status < 200 || status > 299) throw refusal(where, status, text);
    let json: unknown;
    try {
      json = parseLossless(text);
    } catch (err) {
      throw new QdrantResponseInvalidError(`${where}: the answer (HTTP ${status}) is not JSON`, {
        cause: err,
      });
    }
    const parsed = qdrantEnvelope(schema).safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new QdrantResponseInvalidError(
        `${where}: the answer does not match Qdrant's specification (${issue?.path.join('.') || 'body'}: ${issue?.message})`,
      );
    }
    return (parsed.data as { result: z.output<T> }).result;
  }

  /** `with_vector`: only the configured vector when it is a named one. */
  private withVector(): boolean | string[] {
    return this.s.vector === undefined ? true : [this.s.vector];
  }

  async collection(): Promise<CollectionInfo> {
    const info = await this.call('collection info', '', undefined, QdrantCollectionInfo);
    const { vectors, sparse_vectors } = info.config.params;
    const entries: [string | null, VectorParams][] =
      vectors === undefined ? [] : isVectorParams(vectors) ? [[null, vectors]] : Object.entries(vectors);
    return {
      vectors: entries.map(([name, v]) => ({
        name,
        size: v.size,
        distance: v.distance,
        multivector: v.multivector_config != null,
      })),
      sparseVectors: Object.keys(sparse_vectors ?? {}),
      pointsCount: info.points_count ?? null,
    };
  }

  async scroll(offset: PointId | null, limit: number) {
    const page = await this.call(
      'scroll',
      '/points/scroll',
      {
        limit,
        ...(offset === null ? {} : { offset: wireId(offset) }),
        with_payload: true,
        with_vector: this.withVector(),
      },
      QdrantScrollResult,
    );
    return { points: page.points as SourcePoint[], next: page.next_page_offset ?? null };
  }

  async count(): Promise<number> {
    return (await this.call('count', '/points/count', { exact: true }, QdrantCountResult)).count;
  }

  async search(
    vector: readonly number[],
    limit: number,
    options: { exact?: boolean } = {},
  ): Promise<PointId[]> {
    const result = await this.call(
      'query',
      '/points/query',
      {
        query: [...vector],
        ...(this.s.vector === undefined ? {} : { using: this.s.vector }),
        limit,
        with_payload: false,
        with_vector: false,
        ...(options.exact ? { params: { exact: true } } : {}),
      },
      QdrantQueryResponse,
    );
    return result.points.map((p) => p.id);
  }

  async retrieve(ids: readonly PointId[]): Promise<SourcePoint[]> {
    return (await this.call(
      'retrieve',
      '/points',
      { ids: ids.map(wireId), with_payload: true, with_vector: this.withVector() },
      QdrantRetrieveResult,
    )) as SourcePoint[];
  }
}

type VectorParams = z.output<typeof QdrantVectorParams>;

function isVectorParams(v: VectorParams | Record<string, VectorParams>): v is VectorParams {
  return typeof (v as { size?: unknown }).size === 'number';
}

/** A non-2xx answer as its named error; Qdrant's own message is kept (it never holds the key). */
function refusal(where: string, status: number, text: string): Error {
  let detail = text.slice(0, 300).trim();
  try {
    const body = QdrantErrorBody.safeParse(JSON.parse(text));
    if (body.success) detail = body.data.status.error;
  } catch {
    // 401 answers plain text; keep it as it is.
  }
  const message = `${where} failed (HTTP ${status})${detail ? `: ${detail}` : ''}`;
  if (status === 401 || status === 403)
    return new QdrantAuthenticationError(
      `${message}. Check the API key (database.source.qdrant.apiKeyParameter)`,
    );
  if (status === 404) return new QdrantCollectionNotFoundError(message);
  if (status === 408 || status === 429 || status >= 500) return new VectorSourceUnavailableError(message);
  return new QdrantRequestRejectedError(message);
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
