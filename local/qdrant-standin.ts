/**
 * A Qdrant stand-in for tests, rehearsals and the benchmark: a real HTTP server answering the
 * REST endpoints the database cutover uses as Qdrant 1.19 answers them (its OpenAPI
 * specification), with the envelope `{ result, status: "ok", time }` and errors
 * `{ status: { error }, time }`:
 *
 * - `GET  /collections/{name}`               collection info: `config.params.vectors` is `{size, distance}`
 *                                            (one unnamed vector) or `{ name: {size, distance} }`, plus
 *                                            `sparse_vectors` when the collection has them
 * - `POST /collections/{name}/points/scroll`  `{ offset?, limit, with_payload, with_vector }` -> `{ points, next_page_offset }`
 * - `POST /collections/{name}/points/count`   `{ exact }` -> `{ count }`
 * - `POST /collections/{name}/points/query`   `{ query, using?, limit, params? }` -> `{ points: ScoredPoint[] }`
 * - `POST /collections/{name}/points`         `{ ids }` -> `Record[]` (retrieve)
 * - `PUT  /collections/{name}/points`         `{ points }` upsert: a point with an existing id is replaced
 *
 * As Qdrant does: points scroll in id order (integers ascending, then UUIDs by their 128-bit
 * value) and `next_page_offset` is the first id of the next page; a point without vectors answers
 * `vector: {}` and one without payload `payload: {}`; UUIDs come back lower case; integer ids up to
 * 2^64 - 1 are read and written exactly; a Cosine collection keeps its vectors normalised; a bad
 * limit, offset or id is refused with 400 (not deserialisable) or 422 (out of range); a missing or
 * wrong API key gets 401 with a plain-text body. Search is exact (brute force) whether or not the
 * request asks `params.exact`; the request log records what it asked.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseLossless, stringifyLossless } from '../functions/shared/lossless-json';
import { type PointId, wireId } from '../functions/shared/vector-stores';

export type Distance = 'Cosine' | 'Euclid' | 'Dot' | 'Manhattan';

export interface StandinPoint {
  readonly id: PointId;
  /** The unnamed vector (`number[]`), or named vectors: `{ name: number[] | { indices, values } }`; absent: none. */
  readonly vector?: unknown;
  readonly payload?: Record<string, unknown> | null;
}

export interface QdrantStandinOptions {
  readonly collection: string;
  /** The collection's one unnamed dense vector; ignored when `vectors` names them. */
  readonly size: number;
  readonly distance: Distance;
  /** Named dense vectors instead of the unnamed one. */
  readonly vectors?: Readonly<Record<string, { readonly size: number; readonly distance: Distance }>>;
  /** Names of sparse vectors. */
  readonly sparseVectors?: readonly string[];
  readonly points: readonly StandinPoint[];
  /** When set, every request must carry it in the `api-key` header (as Qdrant Cloud requires). */
  readonly apiKey?: string;
}

/** One injected failure: the next matching requests answer `status` (or the given body), after `after` of them succeeded. */
interface Fault {
  readonly path: RegExp;
  after: number;
  times: number;
  readonly status: number;
  /** A raw 200 body instead of an error (a malformed answer). */
  readonly body?: string;
  /** Only requests whose body this accepts. */
  readonly when?: (body: Record<string, unknown>) => boolean;
}

/** A point as stored: id normalised, vectors by name ('' is the unnamed vector). */
interface Stored {
  readonly id: PointId;
  readonly vectors: Readonly<Record<string, unknown>>;
  readonly payload: Record<string, unknown>;
}

type Dense = { readonly size: number; readonly distance: Distance };

/** A request refused as Qdrant refuses it: 400 for a body it cannot read, 422 for a value out of range. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
const badFormat = (what: string) => new Refusal(400, `Format error in JSON body: ${what}`);
const invalid = (what: string) => new Refusal(422, `Validation error in JSON body: [${what}]`);

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const U64_MAX = 2n ** 64n - 1n;

/** Reads an id as Qdrant does: an unsigned 64-bit integer or a UUID (any case, answered lower case, hyphenated). */
export function readPointId(raw: unknown): PointId | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? raw : undefined;
  if (typeof raw === 'bigint') {
    if (raw < 0n || raw > U64_MAX) return undefined;
    return raw <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(raw) : raw.toString();
  }
  if (typeof raw === 'string' && /^\d{16,20}$/.test(raw)) return readPointId(BigInt(raw));
  if (typeof raw === 'string' && UUID.test(raw)) {
    const hex = raw.replace(/-/g, '').toLowerCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  return undefined;
}

export class QdrantStandin {
  /** Every request: method, path, and what the cutover's requests ask (offset, limit, vectors, exact). */
  readonly requests: {
    method: string;
    path: string;
    offset?: unknown;
    limit?: unknown;
    withVector?: unknown;
    using?: unknown;
    exact?: boolean;
    status?: number;
  }[] = [];
  private points: Stored[] = [];
  private faults: Fault[] = [];
  private readonly dense: ReadonlyMap<string, Dense>;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: QdrantStandinOptions,
  ) {
    this.dense = new Map(
      options.vectors
        ? Object.entries(options.vectors)
        : [['', { size: options.size, distance: options.distance }]],
    );
    this.setPoints(options.points);
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

  /** Makes `times` requests to a path matching `path` fail with `status` (503), after `after` more succeed. */
  failRequests(path: RegExp, options: { after?: number; times?: number; status?: number } = {}): void {
    this.faults.push({
      path,
      after: options.after ?? 0,
      times: options.times ?? 1,
      status: options.status ?? 503,
    });
  }

  /** Makes matching requests answer 200 with `body` as it is (an answer outside Qdrant's specification). */
  answerMalformed(
    path: RegExp,
    body: string,
    options: { after?: number; times?: number; when?: (body: Record<string, unknown>) => boolean } = {},
  ): void {
    this.faults.push({
      path,
      after: options.after ?? 0,
      times: options.times ?? 1,
      status: 200,
      body,
      when: options.when,
    });
  }

  /** Replaces the collection's points (a write to the source during a rehearsal). */
  setPoints(points: readonly StandinPoint[]): void {
    this.points = [];
    this.upsert(points);
  }

  scrollRequests() {
    return this.requests.filter((r) => r.path.endsWith('/points/scroll'));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    const entry: (typeof this.requests)[number] = { method: req.method ?? 'GET', path: '' };
    const send = (status: number, type: string, text: string) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': type });
      res.end(text);
    };
    const reply = (status: number, body: Record<string, unknown>) =>
      send(status, 'application/json', stringifyLossless({ ...body, time: seconds() }));
    const ok = (result: unknown) => reply(200, { result, status: 'ok' });
    const error = (status: number, message: string) => reply(status, { status: { error: message } });
    try {
      const url = new URL(req.url ?? '/', 'http://qdrant');
      entry.path = url.pathname;
      this.requests.push(entry);
      const text = await readText(req);
      let body: Record<string, unknown> = {};
      if (text) {
        try {
          const parsed = parseLossless(text);
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
            throw new Error('expected an object');
          body = parsed as Record<string, unknown>;
        } catch (err) {
          return error(400, `Format error in JSON body: ${(err as Error).message}`);
        }
      }
      if (url.pathname.endsWith('/scroll'))
        Object.assign(entry, {
          offset: body.offset ?? null,
          limit: body.limit,
          withVector: body.with_vector,
        });
      if (url.pathname.endsWith('/query'))
        Object.assign(entry, {
          limit: body.limit,
          using: body.using,
          exact: (body.params as { exact?: unknown } | undefined)?.exact === true,
        });
      if (this.options.apiKey !== undefined && req.headers['api-key'] !== this.options.apiKey) {
        // Qdrant's authentication answers plain text, not its JSON envelope.
        return send(
          401,
          'text/plain; charset=utf-8',
          req.headers['api-key'] === undefined
            ? 'Must provide an API key or an Authorization bearer token'
            : 'Invalid API key or JWT',
        );
      }
      const fault = this.faults.find(
        (f) => f.path.test(url.pathname) && f.times > 0 && (f.when?.(body) ?? true),
      );
      if (fault) {
        if (fault.after > 0) fault.after -= 1;
        else {
          fault.times -= 1;
          if (fault.body !== undefined) return send(200, 'application/json', fault.body);
          return error(fault.status, `Service Unavailable: injected by the test`);
        }
      }
      const m = /^\/collections\/([^/]+)(\/points(?:\/(scroll|count|query))?)?$/.exec(url.pathname);
      if (!m) return error(404, `Not found: ${url.pathname}`);
      if (decodeURIComponent(m[1] as string) !== this.options.collection) {
        return error(404, `Not found: Collection \`${decodeURIComponent(m[1] as string)}\` doesn't exist!`);
      }
      const action = m[3] ?? (m[2] ? 'points' : 'info');
      if (action === 'info' && req.method === 'GET') return ok(this.info());
      if (action === 'points' && req.method === 'PUT') {
        this.upsert(readUpsert(body.points));
        return ok({ operation_id: this.points.length, status: 'completed' });
      }
      if (req.method !== 'POST') return error(405, 'Method not allowed');
      switch (action) {
        case 'scroll':
          return ok(this.scroll(body));
        case 'count':
          return ok({ count: this.points.length });
        case 'query':
          return ok({ points: this.search(body) });
        case 'points':
          return ok(this.retrieve(body));
      }
      return error(404, `Not found: ${url.pathname}`);
    } catch (err) {
      if (err instanceof Refusal) return error(err.status, err.message);
      return error(500, `Service internal error: ${(err as Error).message}`);
    }
  }

  private info() {
    const vectors = this.options.vectors ?? { size: this.options.size, distance: this.options.distance };
    const sparse = this.options.sparseVectors ?? [];
    return {
      status: 'green',
      optimizer_status: 'ok',
      indexed_vectors_count: this.points.length,
      points_count: this.points.length,
      segments_count: 1,
      config: {
        params: {
          vectors,
          ...(sparse.length ? { sparse_vectors: Object.fromEntries(sparse.map((n) => [n, {}])) } : {}),
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

  /** Stores points as Qdrant's upsert does: by id, replacing a point that has the same id. */
  private upsert(points: readonly StandinPoint[]): void {
    const byKey = new Map(this.points.map((p) => [idKey(p.id), p]));
    for (const p of points) {
      const id = readPointId(p.id);
      if (id === undefined) throw badFormat(`invalid point id ${String(p.id)}`);
      byKey.set(idKey(id), { id, vectors: this.vectorsOf(p.vector), payload: { ...(p.payload ?? {}) } });
    }
    this.points = [...byKey.values()].sort((a, b) => compareIds(a.id, b.id));
  }

  /** A point's vectors by name, checked against the collection's config; Cosine ones normalised. */
  private vectorsOf(vector: unknown): Record<string, unknown> {
    if (vector === undefined || vector === null) return {};
    const named: Record<string, unknown> = Array.isArray(vector)
      ? { '': vector }
      : (vector as Record<string, unknown>);
    const out: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(named)) {
      const dense = this.dense.get(name);
      if (dense) {
        if (!isVector(v, dense.size))
          throw new Refusal(
            400,
            `Wrong input: Vector dimension error: expected dim: ${dense.size}, got ${Array.isArray(v) ? v.length : 0}`,
          );
        out[name] = dense.distance === 'Cosine' ? normalise(v) : v;
      } else if (this.options.sparseVectors?.includes(name)) {
        out[name] = v;
      } else throw new Refusal(400, `Wrong input: Not existing vector name error: ${name}`);
    }
    return out;
  }

  private scroll(body: Record<string, unknown>) {
    const limit = readLimit(body.limit, 10);
    const offset = body.offset === undefined || body.offset === null ? null : readPointId(body.offset);
    if (offset === undefined)
      throw badFormat(`offset: data did not match any variant of untagged enum ExtendedPointId`);
    const start = offset === null ? 0 : this.points.findIndex((p) => compareIds(p.id, offset) >= 0);
    const from = start < 0 ? this.points.length : start;
    const page = this.points.slice(from, from + limit);
    const next = this.points[from + limit];
    return {
      points: page.map((p) => this.shape(p, body.with_payload ?? true, body.with_vector ?? false)),
      next_page_offset: next ? wireId(next.id) : null,
    };
  }

  private retrieve(body: Record<string, unknown>) {
    if (!Array.isArray(body.ids)) throw badFormat('missing field `ids`');
    const ids = body.ids.map((raw) => {
      const id = readPointId(raw);
      if (id === undefined)
        throw badFormat(`ids: data did not match any variant of untagged enum ExtendedPointId`);
      return id;
    });
    const byKey = new Map(this.points.map((p) => [idKey(p.id), p]));
    return ids
      .map((id) => byKey.get(idKey(id)))
      .filter((p): p is Stored => p !== undefined)
      .map((p) => this.shape(p, body.with_payload ?? true, body.with_vector ?? false));
  }

  private search(body: Record<string, unknown>) {
    const using = typeof body.using === 'string' ? body.using : '';
    const dense = this.dense.get(using);
    if (!dense) throw new Refusal(400, `Wrong input: Not existing vector name error: ${using}`);
    const query = body.query;
    if (!isVector(query, dense.size))
      throw new Refusal(
        400,
        `Wrong input: Vector dimension error: expected dim: ${dense.size}, got ${Array.isArray(query) ? query.length : 0}`,
      );
    const limit = readLimit(body.limit, 10);
    const q = dense.distance === 'Cosine' ? normalise(query) : query;
    const scored = this.points
      .filter((p): p is Stored & { vectors: Record<string, number[]> } =>
        isVector(p.vectors[using], dense.size),
      )
      .map((p) => ({ point: p, score: score(dense.distance, q, p.vectors[using] as number[]) }));
    const higherIsBetter = dense.distance === 'Cosine' || dense.distance === 'Dot';
    scored.sort(
      (a, b) =>
        (higherIsBetter ? b.score - a.score : a.score - b.score) || compareIds(a.point.id, b.point.id),
    );
    return scored.slice(0, limit).map(({ point, score: s }) => ({
      id: wireId(point.id),
      version: 0,
      score: s,
      ...(body.with_payload === true ? { payload: point.payload } : {}),
      ...(body.with_vector ? { vector: this.vectorOut(point, body.with_vector) } : {}),
    }));
  }

  private shape(p: Stored, withPayload: unknown, withVector: unknown) {
    return {
      id: wireId(p.id),
      ...(withPayload === false ? {} : { payload: p.payload }),
      ...(withVector === false ? {} : { vector: this.vectorOut(p, withVector) }),
    };
  }

  /**
   * `with_vector: true` -> all the point's vectors: the unnamed one bare when it is the collection's
   * only vector, else a map by name (the unnamed one under ""); `[names]` -> those; none -> `{}`.
   */
  private vectorOut(p: Stored, withVector: unknown): unknown {
    if (withVector === true && !this.options.vectors && !this.options.sparseVectors?.length)
      return p.vectors[''] ?? {};
    const names = Array.isArray(withVector) ? (withVector as unknown[]).map(String) : Object.keys(p.vectors);
    return Object.fromEntries(names.filter((n) => n in p.vectors).map((n) => [n, p.vectors[n]]));
  }
}

function readLimit(raw: unknown, fallback: number): number {
  if (raw === undefined || raw === null) return fallback;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0)
    throw badFormat(`limit: invalid value: ${String(raw)}, expected usize`);
  if (raw < 1) throw invalid(`limit: value ${raw} invalid, must be 1 or larger`);
  return raw;
}

function readUpsert(raw: unknown): StandinPoint[] {
  if (!Array.isArray(raw)) throw badFormat('missing field `points`');
  return raw.map((p) => {
    const point = p as { id?: unknown; vector?: unknown; payload?: unknown };
    const id = readPointId(point.id);
    if (id === undefined)
      throw badFormat('points: data did not match any variant of untagged enum ExtendedPointId');
    return { id, vector: point.vector, payload: (point.payload as Record<string, unknown> | null) ?? null };
  });
}

function isVector(v: unknown, size: number): v is number[] {
  return Array.isArray(v) && v.length === size && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

function normalise(v: readonly number[]): number[] {
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => x / norm);
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

function isInteger(id: PointId): boolean {
  return typeof id === 'number' || /^\d+$/.test(id);
}

function idKey(id: PointId): string {
  return isInteger(id) ? `n:${id}` : `u:${String(id).toLowerCase()}`;
}

/** Qdrant's scroll order: integer ids first, ascending (exactly, up to 2^64 - 1); then UUIDs by their 128-bit value. */
export function compareIds(a: PointId, b: PointId): number {
  const ia = isInteger(a);
  const ib = isInteger(b);
  if (ia && ib) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (ia) return -1;
  if (ib) return 1;
  const x = String(a).toLowerCase();
  const y = String(b).toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
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

const DEFECTS = ['missing-org', 'no-payload', 'no-vector'] as const;
export type Defect = (typeof DEFECTS)[number];

/**
 * `count` points of `size` dimensions: integer and UUID ids mixed, payloads with an organisation,
 * text, tags and nested values; plus `malformed` defective points spread over the collection, of
 * the kinds real collections hold: no organisation in the payload, no payload (`{}`), no vector
 * (`{}`). With `vectorName` the vectors are named (`{ [vectorName]: [...], other: [...] }`), with
 * `sparseName` each point also has a sparse vector; with `hugeIds` the integer ids lie above 2^53
 * (consecutive ones, which a float64 cannot tell apart).
 */
export function generateCollection(options: {
  readonly count: number;
  readonly size: number;
  readonly malformed?: number;
  readonly seed?: number;
  readonly orgs?: readonly string[];
  readonly vectorName?: string;
  /** A second named vector beside `vectorName` (needs `vectorName`). */
  readonly otherVector?: string;
  readonly sparseName?: string;
  readonly hugeIds?: boolean;
  /** The defects, in turn. @default all three */
  readonly kinds?: readonly Defect[];
}): GeneratedCollection {
  const random = prng(options.seed ?? 42);
  const orgs = options.orgs ?? ['org-a', 'org-b', 'org-c'];
  const kinds = options.kinds ?? DEFECTS;
  const malformedEvery = options.malformed ? Math.max(2, Math.floor(options.count / options.malformed)) : 0;
  const failed: Record<string, number> = {};
  const skipped: Record<string, number> = {};
  const orgCounts: Record<string, number> = {};
  const points: StandinPoint[] = [];
  const vectorOf = (dense: number[]): unknown => {
    if (!options.vectorName && !options.sparseName) return dense;
    const named: Record<string, unknown> = { [options.vectorName ?? '']: dense };
    if (options.otherVector) named[options.otherVector] = dense.map((x) => -x);
    if (options.sparseName) named[options.sparseName] = { indices: [1, 7, 42], values: [0.5, 0.25, 0.125] };
    return named;
  };
  let broken = 0;
  for (let i = 0; i < options.count; i++) {
    const id: PointId =
      i % 2 === 0 ? (options.hugeIds ? (2n ** 63n + BigInt(i)).toString() : i * 3 + 1) : uuidFrom(random);
    const dense = Array.from({ length: options.size }, () => Math.round((random() * 2 - 1) * 1e6) / 1e6);
    const org = orgs[i % orgs.length] as string;
    const payload: Record<string, unknown> = {
      org_id: org,
      text: `memory ${i}: ${random().toString(36).slice(2, 10)}`,
      tags: i % 3 === 0 ? ['work', 'project'] : ['personal'],
      source: { kind: 'chat', turn: i % 17 },
      score: Math.round(random() * 1000) / 1000,
    };
    if (malformedEvery && broken < (options.malformed ?? 0) && i % malformedEvery === malformedEvery - 1) {
      const kind = kinds[broken % kinds.length] as Defect;
      broken += 1;
      if (kind === 'missing-org') {
        const { org_id: _drop, ...rest } = payload;
        points.push({ id, vector: vectorOf(dense), payload: rest });
        failed[kind] = (failed[kind] ?? 0) + 1;
      } else if (kind === 'no-payload') {
        points.push({ id, vector: vectorOf(dense) });
        failed[kind] = (failed[kind] ?? 0) + 1;
      } else {
        points.push({ id, payload });
        skipped[kind] = (skipped[kind] ?? 0) + 1;
      }
      continue;
    }
    points.push({ id, vector: vectorOf(dense), payload });
    orgCounts[org] = (orgCounts[org] ?? 0) + 1;
  }
  const succeeded = Object.values(orgCounts).reduce((a, b) => a + b, 0);
  return { points, expected: { succeeded, failed, skipped }, orgs: orgCounts };
}
