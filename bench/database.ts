/**
 * Database cutover benchmark (seed 002's vector migration), side by side in one run on the same
 * target (PGlite with pgvector behind its socket, in this process):
 *   - write limit: the target's own rate with the migration's batch method and no source at all;
 *   - pipeline:    the migration step's loop (Qdrant stand-in scroll with read-ahead, batched
 *                  upsert, a checkpoint after every batch);
 *   - naive:       scroll, then one INSERT per point;
 * and how the pipeline's throughput and memory grow from 10k to 100k points. The Qdrant stand-in
 * and each measured run are separate processes (bench/database-child.ts), so each run's memory is
 * its own and the source does not share the target's thread.
 *
 *   npm run bench -- database [--sizes 10000,100000] [--dim 32] [--batch 500] [--naive 5000] [--repeat 3] [--pin]
 *
 * At each size, write limit and pipeline alternate `--repeat` times and the medians are compared
 * (the machine's other load moves single runs).
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { LocalPgvector, targetSchemaSql } from '../local/pgvector';
import type { BenchJob, BenchResult } from './database-child';

const CHILD = join(__dirname, 'database-child.ts');
const TASKSET = '/usr/bin/taskset';

/**
 * `--pin` (Linux, two or more CPUs): the target (this process, PGlite) gets CPU 0 and every child
 * CPU 1, as a database server has its own CPU. Useful on an otherwise idle machine; on a shared one
 * other processes land on the pinned CPUs and it measures worse than letting the scheduler place.
 */
const pinned =
  process.argv.includes('--pin') &&
  process.platform === 'linux' &&
  availableParallelism() >= 2 &&
  existsSync(TASKSET);

function arg(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function start(job: BenchJob): ChildProcess {
  const node = ['--import', 'tsx', '--expose-gc'];
  return fork(CHILD, [], {
    env: { ...process.env, BENCH_JOB: JSON.stringify(job) },
    ...(pinned
      ? { execPath: TASKSET, execArgv: ['-c', '1', process.execPath, ...node] }
      : { execArgv: node }),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function firstMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as T));
    child.once('exit', (code) => reject(new Error(`bench child exited with ${code} before answering`)));
  });
}

async function run(job: BenchJob): Promise<BenchResult> {
  return firstMessage<BenchResult>(start(job));
}

/** The run with the median time (its memory figures with it). */
function median(results: BenchResult[]): BenchResult {
  return [...results].sort((a, b) => a.ms - b.ms)[Math.floor(results.length / 2)] as BenchResult;
}

export async function databaseBench(args: readonly string[]): Promise<void> {
  const sizes = (arg(args, '--sizes') ?? '10000,100000').split(',').map(Number);
  const dim = Number(arg(args, '--dim') ?? 32);
  const batchSize = Number(arg(args, '--batch') ?? 500);
  const naiveLimit = Number(arg(args, '--naive') ?? 5000);
  const repeat = Number(arg(args, '--repeat') ?? 3);
  if (pinned) execFileSync(TASKSET, ['-a', '-pc', '0', String(process.pid)], { stdio: 'ignore' });
  const pgvector = await LocalPgvector.start({ maxConnections: 8 });
  const reset = () => pgvector.db.exec(targetSchemaSql({ dimension: dim }));
  const rows: { size: number; name: string; r: BenchResult }[] = [];
  try {
    for (const size of sizes) {
      const standin = start({ kind: 'standin', count: size, size: dim });
      const { url } = await firstMessage<{ url: string }>(standin);
      const targetUrl = pgvector.url('bench');
      try {
        const limits: BenchResult[] = [];
        const pipelines: BenchResult[] = [];
        for (let i = 0; i < repeat; i++) {
          await reset();
          limits.push(await run({ kind: 'write-limit', qdrantUrl: url, targetUrl, batchSize, size: dim }));
          await reset();
          pipelines.push(await run({ kind: 'pipeline', qdrantUrl: url, targetUrl, batchSize, size: dim }));
          const stored = await pgvector.db.query<{ n: number }>(
            'SELECT count(DISTINCT vector_id)::int AS n FROM memory_fragments',
          );
          if (stored.rows[0]?.n !== size)
            throw new Error(`pipeline stored ${stored.rows[0]?.n} of ${size} points`);
        }
        const runs = limits.length > 1 ? ` (median of ${limits.length})` : '';
        rows.push({ size, name: `write limit (batched upsert, no source)${runs}`, r: median(limits) });
        rows.push({
          size,
          name: `pipeline (scroll + read-ahead + upsert + checkpoint)${runs}`,
          r: median(pipelines),
        });
        if (size === sizes[0]) {
          await reset();
          rows.push({
            size,
            name: `naive (one INSERT per point, first ${Math.min(naiveLimit, size)})`,
            r: await run({
              kind: 'naive',
              qdrantUrl: url,
              targetUrl,
              size: dim,
              limit: Math.min(naiveLimit, size),
            }),
          });
        }
      } finally {
        standin.disconnect();
      }
    }
  } finally {
    await pgvector.close();
    // Later sections of `npm run bench` get every CPU back.
    if (pinned)
      execFileSync(TASKSET, ['-a', '-pc', `0-${availableParallelism() - 1}`, String(process.pid)], {
        stdio: 'ignore',
      });
  }

  console.log(
    `\nDatabase cutover: Qdrant -> pgvector migration, ${dim}-d vectors, batches of ${batchSize}, node ${process.version}`,
  );
  console.log(
    `target: PGlite (PostgreSQL in WebAssembly) with pgvector behind pglite-socket, no ANN index; source: the Qdrant stand-in; ${
      pinned ? 'target on CPU 0, source and client on CPU 1' : 'no CPU pinning'
    }\n`,
  );
  console.log('| points | method | points/s | seconds | peak heap MB | peak RSS MB |');
  console.log('|---:|---|---:|---:|---:|---:|');
  for (const { size, name, r } of rows) {
    console.log(
      `| ${size} | ${name} | ${(r.points / (r.ms / 1000)).toFixed(0)} | ${(r.ms / 1000).toFixed(1)} | ${r.peakHeapMB.toFixed(0)} | ${r.peakRssMB.toFixed(0)} |`,
    );
  }
  const rate = (size: number, prefix: string) => {
    const row = rows.find((x) => x.size === size && x.name.startsWith(prefix));
    return row ? row.r.points / (row.r.ms / 1000) : Number.NaN;
  };
  console.log('');
  for (const size of sizes) {
    console.log(
      `${size} points: pipeline / write limit = ${(rate(size, 'pipeline') / rate(size, 'write limit')).toFixed(2)}x`,
    );
  }
  const first = sizes[0] as number;
  console.log(
    `${first} points: pipeline / naive = ${(rate(first, 'pipeline') / rate(first, 'naive')).toFixed(1)}x`,
  );
  const heaps = sizes.map(
    (s) => rows.find((x) => x.size === s && x.name.startsWith('pipeline'))?.r.peakHeapMB ?? Number.NaN,
  );
  console.log(
    `pipeline peak heap from ${sizes[0]} to ${sizes.at(-1)} points: ${heaps.map((h) => h.toFixed(0)).join(' -> ')} MB`,
  );
}
