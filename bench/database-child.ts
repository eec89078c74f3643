/**
 * The measured processes of the database benchmark (bench/database.ts forks them with tsx): the
 * Qdrant stand-in serving a generated collection, and the three ways of filling the target, each
 * alone in its process so its memory is its own. PGlite (the target) runs in the parent.
 *
 * Jobs (JSON in BENCH_JOB):
 *   standin      generate `count` points of `size` dimensions and serve them; answers { url }
 *   pipeline     the migration step's loop (scroll with read-ahead, batched upsert, checkpoint per batch)
 *   write-limit  the same batched upsert of the same points, read and checked before the clock starts
 *   naive        scroll, then one INSERT per point
 * Each measuring job answers { ms, points, peakRssMB, peakHeapMB } over IPC.
 */
import pg from 'pg';
import type { Checkpoint } from '../functions/migrate-vectors/checkpoint';
import { classify, migrateUntil, upsertBatch } from '../functions/migrate-vectors/pipeline';
import { RealDatabaseConnector } from '../functions/shared/adapters/vector-stores';
import type { BlobStore } from '../functions/shared/ports';
import { pointKey, vectorLiteral } from '../functions/shared/vector-stores';
import { generateCollection, QdrantStandin } from '../local/qdrant-standin';

export type BenchJob =
  | { kind: 'standin'; count: number; size: number }
  | { kind: 'pipeline'; qdrantUrl: string; targetUrl: string; batchSize: number; size: number }
  | { kind: 'write-limit'; qdrantUrl: string; targetUrl: string; batchSize: number; size: number }
  | { kind: 'naive'; qdrantUrl: string; targetUrl: string; size: number; limit: number };

export interface BenchResult {
  ms: number;
  points: number;
  peakRssMB: number;
  peakHeapMB: number;
}

const COLLECTION = 'bench';

/** Peak live heap (sampled after a forced GC every 2 s) and peak RSS while the job runs. */
function memorySampler() {
  let peakHeap = 0;
  let peakRss = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakRss = Math.max(peakRss, m.rss);
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  sample();
  // Live heap: collected first, every 2 s (a forced collection costs the measured run a little).
  const timer = setInterval(() => {
    gc?.();
    sample();
  }, 2_000);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { peakRssMB: peakRss / 2 ** 20, peakHeapMB: peakHeap / 2 ** 20 };
    },
  };
}

class MemoryBlobs implements BlobStore {
  private readonly objects = new Map<string, Uint8Array>();
  async get(key: string) {
    return this.objects.get(key);
  }
  async put(key: string, body: Uint8Array | string) {
    this.objects.set(key, typeof body === 'string' ? new TextEncoder().encode(body) : body);
  }
  async list(prefix: string) {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix));
  }
}

async function pipeline(job: Extract<BenchJob, { kind: 'pipeline' }>): Promise<BenchResult> {
  const connector = new RealDatabaseConnector({ poolSize: 2 });
  const source = connector.qdrant({ url: job.qdrantUrl, collection: COLLECTION });
  const target = connector.postgres(job.targetUrl);
  const now = new Date().toISOString();
  const start: Checkpoint = {
    schemaVersion: 1,
    changeId: 'bench',
    collection: COLLECTION,
    table: 'memory_fragments',
    dimension: job.size,
    cursor: null,
    done: false,
    pages: 0,
    invocations: 0,
    counts: { total: 0, succeeded: 0, failed: 0, skipped: 0, written: 0 },
    failures: {},
    skips: {},
    samples: [],
    startedAt: now,
    updatedAt: now,
    finishedAt: null,
    activeSeconds: 0,
  };
  const memory = memorySampler();
  const t = performance.now();
  const end = await migrateUntil(start, {
    source,
    target,
    table: 'memory_fragments',
    orgKey: 'org_id',
    batchSize: job.batchSize,
    deadline: Number.POSITIVE_INFINITY,
    clock: { now: () => new Date() },
    checkpoint: { blobs: new MemoryBlobs(), key: 'checkpoint.json' },
  });
  const ms = performance.now() - t;
  await connector.close();
  return { ms, points: end.counts.succeeded, ...memory.stop() };
}

async function writeLimit(job: Extract<BenchJob, { kind: 'write-limit' }>): Promise<BenchResult> {
  // Exactly the rows the pipeline writes (the stand-in normalises Cosine vectors), read untimed.
  const connector = new RealDatabaseConnector({ poolSize: 2 });
  const source = connector.qdrant({ url: job.qdrantUrl, collection: COLLECTION });
  const batches = [];
  let offset: string | number | null = null;
  do {
    const page = await source.scroll(offset, job.batchSize);
    batches.push(classify(page.points, job.size, 'org_id').rows);
    offset = page.next;
  } while (offset !== null);
  const target = connector.postgres(job.targetUrl);
  const memory = memorySampler();
  const t = performance.now();
  let n = 0;
  for (const rows of batches) {
    await upsertBatch(target, 'memory_fragments', rows);
    n += rows.length;
  }
  const ms = performance.now() - t;
  await connector.close();
  return { ms, points: n, ...memory.stop() };
}

async function naive(job: Extract<BenchJob, { kind: 'naive' }>): Promise<BenchResult> {
  const connector = new RealDatabaseConnector({ poolSize: 1 });
  const source = connector.qdrant({ url: job.qdrantUrl, collection: COLLECTION });
  const client = new pg.Client({ connectionString: job.targetUrl });
  await client.connect();
  const memory = memorySampler();
  const t = performance.now();
  let n = 0;
  let offset: string | number | null = null;
  do {
    const page = await source.scroll(offset, 500);
    for (const p of page.points) {
      if (n >= job.limit) break;
      const v = p.vector as number[];
      await client.query(
        `INSERT INTO memory_fragments (vector_id, org_id, embedding, payload) VALUES ($1, $2, $3::vector, $4)
         ON CONFLICT (vector_id) DO UPDATE SET embedding = EXCLUDED.embedding, payload = EXCLUDED.payload`,
        [pointKey(p.id), String(p.payload?.org_id), vectorLiteral(v), JSON.stringify(p.payload)],
      );
      n += 1;
    }
    offset = page.next;
  } while (offset !== null && n < job.limit);
  const ms = performance.now() - t;
  await client.end();
  await connector.close();
  return { ms, points: n, ...memory.stop() };
}

async function main() {
  const job = JSON.parse(process.env.BENCH_JOB ?? '{}') as BenchJob;
  const send = (m: unknown) => process.send?.(m);
  if (job.kind === 'standin') {
    const { points } = generateCollection({ count: job.count, size: job.size, malformed: 0 });
    const standin = await QdrantStandin.start({
      collection: COLLECTION,
      size: job.size,
      distance: 'Cosine',
      points,
    });
    send({ url: standin.url });
    process.on('disconnect', () => void standin.close().then(() => process.exit(0)));
    return;
  }
  const result =
    job.kind === 'pipeline'
      ? await pipeline(job)
      : job.kind === 'write-limit'
        ? await writeLimit(job)
        : await naive(job);
  send(result);
  process.disconnect?.();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
