import type { BlobStore, Clock } from '../shared/ports';
import {
  isPointId,
  type PointId,
  pointKey,
  quoteTable,
  type SourcePoint,
  type SqlSession,
  type VectorSource,
  vectorLiteral,
} from '../shared/vector-stores';
import { type Checkpoint, writeCheckpoint } from './checkpoint';

export interface TargetRow {
  readonly vectorId: string;
  readonly orgId: string;
  readonly embedding: string;
  readonly payload: string;
}

export interface Classified {
  readonly rows: TargetRow[];
  readonly rejected: { id: PointId; reason: string; kind: 'failed' | 'skipped' }[];
}

/**
 * The dense vector to migrate out of Qdrant's `VectorStructOutput`: the unnamed vector (`name`
 * undefined; in a map of vectors it is the one named "") or the named one. No vector (`{}`, or the
 * named one absent) is a skip; a shape the configured vector cannot be (a map without the unnamed
 * vector, a bare vector when a named one is configured, a sparse vector or a multivector) is a failure.
 */
export function selectVector(
  v: unknown,
  name: string | undefined,
): { readonly vector: unknown } | { readonly reason: string; readonly kind: 'failed' | 'skipped' } {
  const key = name ?? '';
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0))
    return { reason: 'no-vector', kind: 'skipped' };
  if (Array.isArray(v)) {
    if (key !== '') return { reason: 'unnamed-vector', kind: 'failed' };
    return Array.isArray(v[0]) ? { reason: 'multivector', kind: 'failed' } : { vector: v };
  }
  if (typeof v !== 'object') return { reason: 'malformed-vector', kind: 'failed' };
  const named = v as Record<string, unknown>;
  if (Object.keys(named).length === 0) return { reason: 'no-vector', kind: 'skipped' };
  const chosen = named[key];
  if (chosen === undefined)
    return name === undefined
      ? { reason: 'named-or-sparse-vector', kind: 'failed' }
      : { reason: 'no-vector', kind: 'skipped' };
  if (!Array.isArray(chosen)) return { reason: 'sparse-vector', kind: 'failed' };
  if (Array.isArray(chosen[0])) return { reason: 'multivector', kind: 'failed' };
  return chosen.length === 0 ? { reason: 'no-vector', kind: 'skipped' } : { vector: chosen };
}

/**
 * Checks each point before it is written: a valid id, the configured vector (`vectorName`, or the
 * unnamed one) of the target's dimension made of finite numbers, an organisation in the payload
 * (row level security needs it). A point without that vector is skipped (nothing to migrate); any
 * other defect fails the point, with its reason.
 */
export function classify(
  points: readonly SourcePoint[],
  dimension: number,
  orgKey: string,
  vectorName?: string,
): Classified {
  const rows = new Map<string, TargetRow>();
  const rejected: Classified['rejected'] = [];
  for (const p of points) {
    const id = p.id;
    if (!isPointId(id)) {
      rejected.push({ id: String(id), reason: 'invalid-id', kind: 'failed' });
      continue;
    }
    const selected = selectVector(p.vector, vectorName);
    if (!('vector' in selected)) {
      rejected.push({ id, reason: selected.reason, kind: selected.kind });
      continue;
    }
    const v = selected.vector as unknown[];
    if (!v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      rejected.push({ id, reason: 'malformed-vector', kind: 'failed' });
      continue;
    }
    if (v.length !== dimension) {
      rejected.push({ id, reason: 'wrong-dimension', kind: 'failed' });
      continue;
    }
    const payload = p.payload ?? {};
    if (Object.keys(payload).length === 0) {
      rejected.push({ id, reason: 'no-payload', kind: 'failed' });
      continue;
    }
    const org = payload[orgKey];
    if (typeof org !== 'string' || org.length === 0) {
      rejected.push({ id, reason: 'missing-org', kind: 'failed' });
      continue;
    }
    // The same id twice in one batch would make the upsert touch a row twice: the last one wins.
    rows.set(pointKey(id), {
      vectorId: pointKey(id),
      orgId: org,
      embedding: vectorLiteral(v as number[]),
      payload: JSON.stringify(payload),
    });
  }
  return { rows: [...rows.values()], rejected };
}

/**
 * One batch, one statement: `INSERT ... SELECT FROM unnest(...) ON CONFLICT (vector_id) DO UPDATE`,
 * updating only rows whose values differ. Re-running a batch never duplicates and, when nothing
 * changed, writes nothing. Returns the rows inserted or changed.
 */
export async function upsertBatch(
  db: SqlSession,
  table: string,
  rows: readonly TargetRow[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const t = quoteTable(table);
  const result = await db.query(
    `INSERT INTO ${t} AS t (vector_id, org_id, embedding, payload)
     SELECT v, o, e::vector, p FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS s(v, o, e, p)
     ON CONFLICT (vector_id) DO UPDATE
       SET org_id = EXCLUDED.org_id, embedding = EXCLUDED.embedding, payload = EXCLUDED.payload
       WHERE t.org_id IS DISTINCT FROM EXCLUDED.org_id
          OR t.embedding IS DISTINCT FROM EXCLUDED.embedding
          OR t.payload IS DISTINCT FROM EXCLUDED.payload`,
    [
      rows.map((r) => r.vectorId),
      rows.map((r) => r.orgId),
      rows.map((r) => r.embedding),
      rows.map((r) => r.payload),
    ],
  );
  return result.rowCount;
}

/** Dimension of the target's `embedding` column (`vector(N)`), or null when it has none. */
export async function targetDimension(db: SqlSession, table: string): Promise<number | null> {
  const { rows } = await db.query<{ type: string | null }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
     WHERE a.attrelid = to_regclass($1) AND a.attname = 'embedding' AND NOT a.attisdropped`,
    [table],
  );
  const m = /^vector\((\d+)\)$/.exec(rows[0]?.type ?? '');
  return m ? Number(m[1]) : null;
}

export interface RunOptions {
  readonly source: VectorSource;
  readonly target: SqlSession;
  readonly table: string;
  readonly orgKey: string;
  /** The named vector to migrate (`source.qdrant.vector`); undefined: the unnamed one. */
  readonly vectorName?: string;
  readonly batchSize: number;
  /** Stop starting batches at this instant (ms since epoch); at least one batch always runs. */
  readonly deadline: number;
  readonly clock: Clock;
  /** Where the checkpoint is written after each committed batch. */
  readonly checkpoint: { readonly blobs: BlobStore; readonly key: string };
  /** Pages read and checked ahead of the writer. @default 2 */
  readonly readAhead?: number;
}

/**
 * Pages read ahead of the writer, at most `depth` waiting. Each page needs the previous one's
 * `next_page_offset`, so the source gets one request at a time, but it keeps reading while the
 * target writes instead of waiting for the writer to ask. A failure is handed to the writer when
 * it reaches that page; `stop` ends the reading (the pages already read are dropped).
 */
class ReadAhead<T extends { readonly page: { readonly next: PointId | null } }> {
  private readonly ready: T[] = [];
  private failure: { readonly error: unknown } | null = null;
  private ended = false;
  private stopped = false;
  private wakeReader: (() => void) | null = null;
  private wakeWriter: (() => void) | null = null;

  constructor(
    private readonly fetch: (offset: PointId | null) => Promise<T>,
    start: PointId | null,
    private readonly depth: number,
  ) {
    void this.read(start);
  }

  private async read(offset: PointId | null): Promise<void> {
    try {
      let next = offset;
      while (!this.stopped) {
        if (this.ready.length >= this.depth) {
          await new Promise<void>((resolve) => {
            this.wakeWriter = resolve;
          });
          continue;
        }
        const batch = await this.fetch(next);
        if (this.stopped) return;
        this.ready.push(batch);
        if (batch.page.next === null) this.ended = true;
        this.signal();
        if (this.ended) return;
        next = batch.page.next;
      }
    } catch (error) {
      this.failure = { error };
      this.signal();
    }
  }

  private signal(): void {
    const wake = this.wakeReader;
    this.wakeReader = null;
    wake?.();
  }

  /** The next page, or null after the last one; throws the source's error at the page it failed on. */
  async next(): Promise<T | null> {
    for (;;) {
      const batch = this.ready.shift();
      if (batch) {
        const wake = this.wakeWriter;
        this.wakeWriter = null;
        wake?.();
        return batch;
      }
      if (this.failure) throw this.failure.error;
      if (this.ended) return null;
      await new Promise<void>((resolve) => {
        this.wakeReader = resolve;
      });
    }
  }

  stop(): void {
    this.stopped = true;
    const wake = this.wakeWriter;
    this.wakeWriter = null;
    wake?.();
  }
}

/**
 * The migration loop of one invocation: scroll page by page from the checkpoint's cursor,
 * following `next_page_offset`; while a batch is written, the next page is already being read;
 * after each batch commits, the checkpoint is written. Returns the last checkpoint.
 */
export async function migrateUntil(start: Checkpoint, options: RunOptions): Promise<Checkpoint> {
  const { source, target, clock } = options;
  const began = clock.now().getTime();
  if (start.done) return start;
  let cp: Checkpoint = { ...start, invocations: start.invocations + 1 };
  type Batch = Classified & { page: { points: SourcePoint[]; next: PointId | null } };
  const pages = new ReadAhead<Batch>(
    async (offset) => {
      const page = await source.scroll(offset, options.batchSize);
      return { page, ...classify(page.points, cp.dimension, options.orgKey, options.vectorName) };
    },
    cp.cursor,
    options.readAhead ?? 2,
  );
  let saving: Promise<void> = Promise.resolve();
  try {
    await loop();
  } catch (err) {
    // The checkpoint of the last committed batch lands before the invocation reports its failure.
    await saving.catch(() => undefined);
    throw err;
  } finally {
    pages.stop();
  }
  await saving;
  return cp;

  async function loop(): Promise<void> {
    for (;;) {
      // Read-ahead: the next pages are fetched and checked while this one is written.
      const batch = await pages.next();
      if (!batch) return;
      const { page, rows, rejected } = batch;
      // The previous batch's checkpoint is written while this batch is (that batch has committed).
      // Both settle before either error is thrown: no write is left running behind a failed invocation.
      const [upserted, saved] = await Promise.allSettled([upsertBatch(target, options.table, rows), saving]);
      if (upserted.status === 'rejected') throw upserted.reason;
      if (saved.status === 'rejected') throw saved.reason;
      const written = upserted.value;
      const failures = { ...cp.failures };
      const skips = { ...cp.skips };
      for (const r of rejected) {
        const tally = r.kind === 'failed' ? failures : skips;
        tally[r.reason] = (tally[r.reason] ?? 0) + 1;
      }
      const now = clock.now();
      const failed = rejected.filter((r) => r.kind === 'failed').length;
      cp = {
        ...cp,
        cursor: page.next,
        done: page.next === null,
        pages: cp.pages + 1,
        counts: {
          total: cp.counts.total + page.points.length,
          succeeded: cp.counts.succeeded + rows.length,
          failed: cp.counts.failed + failed,
          skipped: cp.counts.skipped + rejected.length - failed,
          written: cp.counts.written + written,
        },
        failures,
        skips,
        samples: [
          ...cp.samples,
          ...rejected.map((r) => ({ id: r.id, reason: r.reason, kind: r.kind })),
        ].slice(0, 50),
        updatedAt: now.toISOString(),
        finishedAt: page.next === null ? now.toISOString() : null,
        activeSeconds: start.activeSeconds + (now.getTime() - began) / 1000,
      };
      // Only after the batch committed. A crash before it lands re-reads and re-writes at most this
      // batch and the one before; the idempotent upsert makes that harmless.
      saving = writeCheckpoint(options.checkpoint.blobs, options.checkpoint.key, cp);
      saving.catch(() => undefined); // surfaced by the next batch's await or after the loop
      if (cp.done || now.getTime() >= options.deadline) return;
    }
  }
}
