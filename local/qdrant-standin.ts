/**
 * A Qdrant stand-in for tests, rehearsals and the benchmark: a real HTTP server answering the
 * documented REST endpoints the database cutover uses, with Qdrant's response envelope
 * (`{ result, status: "ok", time }`) and shapes (api.qdrant.tech, v1.19):
 *
 * - `GET  /collections/{name}`               collection info (`config.params.vectors` {size, distance}, `points_count`)
 * - `POST /collections/{name}/points/scroll`  `{ offset?, limit, with_payload, with_vector }` -> `{ points, next_page_offset }`
 * - `POST /collections/{name}/points/count`   `{ exact }` -> `{ count }`
 * - `POST /collections/{name}/points/query`   `{ query: number[], limit }` -> `{ points: ScoredPoint[] }`
 * - `POST /collections/{name}/points/search`  `{ vector, limit }` -> `ScoredPoint[]` (the older endpoint)
 * - `POST /collections/{name}/points`         `{ ids }` -> `Record[]` (retrieve)
 *
 * Points are ordered as Qdrant orders them for scroll (integer ids ascending, then UUIDs), and
 * `next_page_offset` is the id of the first point of the next page. Search is exact (brute force).
 * Like Qdrant, a Cosine collection keeps its vectors normalised. Malformed points (the test
 * builds them on purpose) are served by scroll and retrieve as they are and never match a search.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PointId } from '../functions/shared/vector-stores';

export type Distance = 'Cosine' | 'Euclid' | 'Dot' | 'Manhattan';

export interface StandinPoint {
  readonly id: PointId;
  readonly vector?: unknown;
  readonly payload?: Record<string, unknown> | null;
}

export interface QdrantStandinOptions {
  readonly collection: string;
  readonly size: number;
  readonly distance: Distance;
  readonly points: readonly StandinPoint[];
  /** When set, every request must carry it in the `api-key` header (as Qdrant Cloud requires). */
  readonly apiKey?: string;
}

/** One injected failure: the next matching requests answer 503, after `after` of them succeeded. */
interface Fault {
  readonly path: RegExp;
  after: number;
  times: number;
}

export class QdrantStandin {
  /** Every request: method, path and (for scroll) the offset asked for. */
  readonly requests: { method: string; path: string; offset?: unknown }[] = [];
  private points: StandinPoint[];
  private faults: Fault[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: QdrantStandinOptions,
  ) {
    this.points = sortForScroll(options.points.map((p) => normalised(p, options)));
  }

  static async start(options: QdrantStandinOptions): Promise<QdrantStandin> {
    let standin: QdrantStandin | undefined;
    const server = createServer((req, res) => {
      void standin?.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    standin = new QdrantStandin(server, `http://127.0.0.1:${port}`, options);
    return standin;
  }

  /** Makes `times` requests to a path matching `path` fail with 503, after `after` more succeed. */
  failRequests(path: RegExp, options: { after?: number; times?: number } = {}): void {
    this.faults.push({ path, after: options.after ?? 0, times: options.times ?? 1 });
  }

  /** Replaces the collection's points (a write to the source during a rehearsal). */
  setPoints(points: readonly StandinPoint[]): void {
    this.points = sortForScroll(points.map((p) => normalised(p, this.options)));
  }

  scrollRequests(): { offset?: unknown }[] {
    return this.requests.filter((r) => r.path.endsWith('/points/scroll'));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const reply = (status: number, body: Record<string, unknown>) => {
      const time = Number(process.hrtime.bigint() - started) / 1e9;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...body, time }));
    };
    const ok = (result: unknown) => reply(200, { result, status: 'ok' });
    const error = (status: number, message: string) => reply(status, { status: { error: message } });
    try {
      const url = new URL(req.url ?? '/', 'http://qdrant');
      const body = req.method === 'POST' || req.method === 'PUT' ? await readJson(req) : {};
      this.requests.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        ...(url.pathname.endsWith('/scroll') ? { offset: body.offset ?? null } : {}),
      });
      if (this.options.apiKey !== undefined && req.headers['api-key'] !== this.options.apiKey) {
        return error(401, 'Must provide an API key or an Authorization bearer token');
      }
      const fault = this.faults.find((f) => f.path.test(url.pathname) && f.times > 0);
      if (fault) {
        if (fault.after > 0) fault.after -= 1;
        else {
          fault.times -= 1;
          return error(503, 'Service Unavailable: injected by the test');
        }
      }
      const m = /^\/collections\/([^/]+)(\/points(?:\/(scroll|count|query|search))?)?$/.exec(url.pathname);
      if (!m) return error(404, `Not found: ${url.pathname}`);
      if (decodeURIComponent(m[1] as string) !== this.options.collection) {
        return error(404, `Not found: Collection \`${m[1]}\` doesn't exist!`);
      }
      const action = m[3] ?? (m[2] ? 'retrieve' : 'info');
      if (action === 'info' && req.method === 'GET') return ok(this.info());
      if (req.method !== 'POST') return error(405, 'Method not allowed');
      switch (action) {
        case 'scroll':
          return ok(this.scroll(body));
        case 'count':
          return ok({ count: this.points.length });
        case 'query':
          return ok({ points: this.search(body.query, body) });
        case 'search':
          return ok(this.search(body.vector, body));
        case 'retrieve':
          return ok(this.retrieve(body));
      }
      return error(404, `Not found: ${url.pathname}`);
    } catch (err) {
      return error(400, `Bad request: ${(err as Error).message}`);
    }
  }

  private info() {
    return {
      status: 'green',
      optimizer_status: 'ok',
      indexed_vectors_count: this.points.length,
      points_count: this.points.length,
      segments_count: 1,
      config: {
        params: {
          vectors: { size: this.options.size, distance: this.options.distance },
          shard_number: 1,
          replication_factor: 1,
          write_consistency_factor: 1,
          on_disk_payload: true,
        },
        hnsw_config: {
          m: 16,
          ef_construct: 100,
          full_scan_threshold: 10_000,
          max_indexing_threads: 0,
          on_disk: false,
        },
        optimizer_config: {
          deleted_threshold: 0.2,
          vacuum_min_vector_number: 1000,
          default_segment_number: 0,
          max_segment_size: null,
          memmap_threshold: null,
          indexing_threshold: 20_000,
          flush_interval_sec: 5,
          max_optimization_threads: null,
        },
        wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
        quantization_config: null,
      },
      payload_schema: {},
    };
  }

  private scroll(body: Record<string, unknown>) {
    const limit = typeof body.limit === 'number' ? body.limit : 10;
    const offset = body.offset as PointId | undefined | null;
    const start =
      offset === undefined || offset === null
        ? 0
        : this.points.findIndex((p) => compareIds(p.id, offset) >= 0);
    const from = start < 0 ? this.points.length : start;
    const page = this.points.slice(from, from + limit);
    const next = this.points[from + limit];
    return {
      points: page.map((p) => shape(p, body.with_payload, body.with_vector)),
      next_page_offset: next ? next.id : null,
    };
  }

  private retrieve(body: Record<string, unknown>) {
    const ids = (body.ids as PointId[] | undefined) ?? [];
    const byKey = new Map(this.points.map((p) => [idKey(p.id), p]));
    return ids
      .map((id) => byKey.get(idKey(id)))
      .filter((p): p is StandinPoint => p !== undefined)
      .map((p) => shape(p, body.with_payload ?? true, body.with_vector ?? false));
  }

  private search(query: unknown, body: Record<string, unknown>) {
    if (!isVector(query, this.options.size))
      throw new Error(`query must be a vector of ${this.options.size} numbers`);
    const limit = typeof body.limit === 'number' ? body.limit : 10;
    const q = this.options.distance === 'Cosine' ? normalise(query) : query;
    const scored = this.points
      .filter((p): p is StandinPoint & { vector: number[] } => isVector(p.vector, this.options.size))
      .map((p) => ({ point: p, score: score(this.options.distance, q, p.vector) }));
    const higherIsBetter = this.options.distance === 'Cosine' || this.options.distance === 'Dot';
    scored.sort(
      (a, b) =>
        (higherIsBetter ? b.score - a.score : a.score - b.score) || compareIds(a.point.id, b.point.id),
    );
    return scored.slice(0, limit).map(({ point, score: s }) => ({
      id: point.id,
      version: 0,
      score: s,
      ...(body.with_payload ? { payload: point.payload ?? {} } : {}),
      ...(body.with_vector ? { vector: point.vector } : {}),
    }));
  }
}

function shape(p: StandinPoint, withPayload: unknown, withVector: unknown) {
  return {
    id: p.id,
    ...(withPayload === false ? {} : { payload: p.payload ?? null }),
    ...(withVector ? { vector: p.vector ?? null } : {}),
  };
}

function isVector(v: unknown, size: number): v is number[] {
  return Array.isArray(v) && v.length === size && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

function normalise(v: readonly number[]): number[] {
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => x / norm);
}

function normalised(p: StandinPoint, options: QdrantStandinOptions): StandinPoint {
  if (options.distance !== 'Cosine' || !isVector(p.vector, options.size)) return p;
  return { ...p, vector: normalise(p.vector) };
}

function score(distance: Distance, a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (distance === 'Euclid') s += (x - y) ** 2;
    else if (distance === 'Manhattan') s += Math.abs(x - y);
    else s += x * y;
  }
  return distance === 'Euclid' ? Math.sqrt(s) : s;
}

function idKey(id: PointId): string {
  return typeof id === 'number' ? `n:${id}` : `u:${id.toLowerCase()}`;
}

/** Qdrant's scroll order: integer ids first, ascending; then UUIDs (by their 128-bit value). */
export function compareIds(a: PointId, b: PointId): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

function sortForScroll(points: StandinPoint[]): StandinPoint[] {
  return [...points].sort((a, b) => compareIds(a.id, b.id));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

// A generated collection: what tests, the rehearsal and the benchmark migrate.

export interface GeneratedCollection {
  readonly points: StandinPoint[];
  /** What a correct migration reports for it. */
  readonly expected: {
    readonly succeeded: number;
    readonly failed: Readonly<Record<string, number>>;
    readonly skipped: Readonly<Record<string, number>>;
  };
  /** Organisations of the valid points, each with its point count. */
  readonly orgs: Readonly<Record<string, number>>;
}

/** A small deterministic PRNG (mulberry32), so a generated collection is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uuidFrom(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * `count` points of `size` dimensions: integer and UUID ids mixed, payloads with an organisation,
 * text, tags and nested values; plus `malformed` broken points spread over the collection
 * (wrong dimension, a non-numeric vector, no organisation, no vector at all).
 */
export function generateCollection(options: {
  readonly count: number;
  readonly size: number;
  readonly malformed?: number;
  readonly seed?: number;
  readonly orgs?: readonly string[];
}): GeneratedCollection {
  const random = prng(options.seed ?? 42);
  const orgs = options.orgs ?? ['org-a', 'org-b', 'org-c'];
  const kinds = ['wrong-dimension', 'malformed-vector', 'missing-org', 'no-vector'] as const;
  const malformedEvery = options.malformed ? Math.max(2, Math.floor(options.count / options.malformed)) : 0;
  const failed: Record<string, number> = {};
  const skipped: Record<string, number> = {};
  const orgCounts: Record<string, number> = {};
  const points: StandinPoint[] = [];
  let broken = 0;
  for (let i = 0; i < options.count; i++) {
    const id: PointId = i % 2 === 0 ? i * 3 + 1 : uuidFrom(random);
    const vector = Array.from({ length: options.size }, () => Math.round((random() * 2 - 1) * 1e6) / 1e6);
    const org = orgs[i % orgs.length] as string;
    const payload: Record<string, unknown> = {
      org_id: org,
      text: `memory ${i}: ${random().toString(36).slice(2, 10)}`,
      tags: i % 3 === 0 ? ['work', 'project'] : ['personal'],
      source: { kind: 'chat', turn: i % 17 },
      score: Math.round(random() * 1000) / 1000,
    };
    if (malformedEvery && broken < (options.malformed ?? 0) && i % malformedEvery === malformedEvery - 1) {
      const kind = kinds[broken % kinds.length] as (typeof kinds)[number];
      broken += 1;
      if (kind === 'wrong-dimension') {
        points.push({ id, vector: vector.slice(0, Math.max(1, options.size - 3)), payload });
        failed[kind] = (failed[kind] ?? 0) + 1;
      } else if (kind === 'malformed-vector') {
        points.push({ id, vector: vector.map((x, j) => (j === 1 ? 'NaN' : x)), payload });
        failed[kind] = (failed[kind] ?? 0) + 1;
      } else if (kind === 'missing-org') {
        const { org_id: _drop, ...rest } = payload;
        points.push({ id, vector, payload: rest });
        failed[kind] = (failed[kind] ?? 0) + 1;
      } else {
        points.push({ id, payload });
        skipped[kind] = (skipped[kind] ?? 0) + 1;
      }
      continue;
    }
    points.push({ id, vector, payload });
    orgCounts[org] = (orgCounts[org] ?? 0) + 1;
  }
  const succeeded = Object.values(orgCounts).reduce((a, b) => a + b, 0);
  return { points, expected: { succeeded, failed, skipped }, orgs: orgCounts };
}
