/**
 * The measured process of the backup benchmark (bench/backup.ts bundles it with esbuild and runs it
 * with plain node, as the data task's image runs tasks/data/task.ts). It wires DataDeps like the
 * data task's `main` does (S3 client from SB_S3_ENDPOINT, the real S3 adapters, the Powertools
 * logger), runs one job and writes `{ ms, maxRssMB, result }` to the job's resultFile. s3rver runs
 * in the parent, so its memory is not counted here.
 *
 * Jobs (JSON in BENCH_JOB): pg-backup, pg-restore, sqlite-backup, sqlite-copy, and `writer`: a
 * SQLite writer (forked with IPC) that inserts one row per transaction until told to stop and
 * reports the longest gap between successive commits per phase the parent names.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { S3BlobStore } from '../functions/shared/adapters/s3-blob-store';
import { S3StreamStore } from '../functions/shared/adapters/s3-stream-store';
import { asLog, createLogger } from '../functions/shared/observability';
import { manifestKeyOf, objectKeyOf, readManifest } from '../tasks/data/manifest';
import { backupPostgres, type DataDeps, type PgEnv, restorePostgres } from '../tasks/data/postgres';
import { backupSqlite } from '../tasks/data/sqlite';

export type ChildJob =
  | { kind: 'pg-backup'; database: string; backupId: string; resultFile: string }
  | { kind: 'pg-restore'; database: string; backupId: string; resultFile: string }
  | { kind: 'sqlite-backup'; path: string; backupId: string; resultFile: string }
  | { kind: 'sqlite-copy'; path: string; dest: string; resultFile: string }
  | { kind: 'writer'; path: string };

export interface ChildResult {
  ms: number;
  maxRssMB: number;
  result: unknown;
}

export interface WriterPhase {
  phase: string;
  inserts: number;
  maxGapMs: number;
  p99GapMs: number;
  /** The longest single insert (time inside the committing call): blocking, not scheduling. */
  maxInsertMs: number;
}

export const BENCH_BUCKET = 'switchback-bench';
export const BENCH_ENVIRONMENT = 'bench';

/**
 * The real adapter, telling the parent (IPC) when an upload starts: for a SQLite backup the copy
 * and its integrity_check are done by then, so the writer's stalls can be placed in either phase.
 */
class PhasedStreamStore extends S3StreamStore {
  override upload(key: string, body: NodeJS.ReadableStream, contentType: string): Promise<void> {
    process.send?.({ phase: 'upload' });
    return super.upload(key, body, contentType);
  }
}

function pgEnv(): PgEnv {
  const out: PgEnv = {};
  for (const k of ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD'] as const) {
    const v = process.env[k];
    if (v) out[k] = v;
  }
  return out;
}

function writer(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const insert = db.prepare(
    'INSERT INTO memories (content, meta, embedding, created_at) VALUES (?, ?, ?, ?)',
  );
  const embedding = Buffer.alloc(128, 7);
  const phases: WriterPhase[] = [];
  let gaps: number[] = [];
  let maxInsertMs = 0;
  let phase = 'warm-up';
  let last = performance.now();
  let stop = false;
  const close = () => {
    const sorted = gaps.sort((a, b) => a - b);
    phases.push({
      phase,
      inserts: gaps.length,
      maxGapMs: sorted[sorted.length - 1] ?? 0,
      p99GapMs: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
      maxInsertMs,
    });
    gaps = [];
    maxInsertMs = 0;
  };
  process.on('message', (m: { phase?: string; stop?: boolean }) => {
    close();
    if (m.stop) stop = true;
    else phase = m.phase ?? 'unnamed';
  });
  let i = 0;
  const loop = () => {
    if (stop) {
      db.close();
      process.send?.(phases, () => process.exit(0));
      return;
    }
    const before = performance.now();
    insert.run(
      `live memory ${i++}: the user said something worth remembering at ${new Date().toISOString()}`,
      JSON.stringify({ source: 'writer', i }),
      embedding,
      Date.now(),
    );
    const now = performance.now();
    maxInsertMs = Math.max(maxInsertMs, now - before);
    gaps.push(now - last);
    last = now;
    // An app-like steady stream (~1 ms apart), not a CPU-bound loop competing with the backup.
    setTimeout(loop, 1);
  };
  loop();
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.BENCH_JOB ?? '{}') as ChildJob;
  if (job.kind === 'writer') return writer(job.path);

  const s3 = new S3Client({
    maxAttempts: 5,
    endpoint: process.env.SB_S3_ENDPOINT,
    forcePathStyle: true,
    region: process.env.AWS_REGION ?? 'us-east-1',
  });
  const deps: DataDeps = {
    environment: BENCH_ENVIRONMENT,
    blobs: new S3BlobStore(s3, BENCH_BUCKET),
    objects: new PhasedStreamStore(s3, BENCH_BUCKET),
    clock: { now: () => new Date() },
    log: asLog(createLogger('data-task')),
  };
  const request = {
    purpose: 'manual' as const,
    reason: 'benchmark',
    executionId: 'arn:aws:states:local-1:000000000000:execution:switchback-bench:bench',
  };
  const started = performance.now();
  let result: unknown;
  try {
    switch (job.kind) {
      case 'pg-backup':
        result = await backupPostgres(
          { ...request, database: job.database, backupId: job.backupId },
          pgEnv(),
          deps,
        );
        break;
      case 'pg-restore': {
        const key = manifestKeyOf(objectKeyOf(BENCH_ENVIRONMENT, 'postgres', job.database, job.backupId));
        const manifest = await readManifest(deps.blobs, key);
        if (!manifest) throw new Error(`no manifest at ${key}`);
        result = await restorePostgres(manifest, job.database, pgEnv(), deps);
        break;
      }
      case 'sqlite-backup':
        result = await backupSqlite(
          { ...request, database: 'memory', backupId: job.backupId, path: job.path, scratchDir: tmpdir() },
          deps,
        );
        break;
      case 'sqlite-copy': {
        // The backup API call backupSqlite makes, alone (no integrity_check, no upload).
        const source = new Database(job.path, { fileMustExist: true });
        try {
          result = await source.backup(job.dest, { progress: () => 0x7fffffff });
        } finally {
          source.close();
        }
        break;
      }
    }
  } finally {
    s3.destroy();
  }
  const out: ChildResult = {
    ms: performance.now() - started,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    result,
  };
  writeFileSync(job.resultFile, JSON.stringify(out));
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`bench child failed: ${err.name}: ${err.message}`);
    process.exitCode = 1;
  });
}
