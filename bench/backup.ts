/**
 * Backup and restore benchmark (issue #3), side by side in one run, on generated data:
 *   - PostgreSQL (~100 MB and ~1 GB): backupPostgres vs `pg_dump -Fc > /dev/null` (throughput),
 *     peak RSS of the backup process, restorePostgres vs `pg_restore` from a local file;
 *   - SQLite (~1 GB, WAL, a writer process inserting throughout): backupSqlite vs `cp`, and the
 *     writer's longest gap between successive committed inserts.
 * The measured Switchback code runs in a child process (bench/backup-child.ts, bundled with esbuild
 * and run with plain node, wired like the data task); s3rver runs here, in the parent, so its
 * memory is not counted. Everything lives in one fresh temp dir (PostgreSQL cluster, s3rver,
 * SQLite files, dumps), removed at the end.
 *
 *   npm run bench -- backup [--pg-mb 100,1000] [--sqlite-mb 1000]
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import { build } from 'esbuild';
import pg from 'pg';
import { S3StreamStore } from '../functions/shared/adapters/s3-stream-store';
import { ThrowawayPostgres } from '../local/postgres';
import { LocalS3 } from '../local/s3';
import type { BackupManifest } from '../tasks/data/manifest';
import { rowCounts } from '../tasks/data/postgres';
import { BENCH_BUCKET, type ChildJob, type ChildResult, type WriterPhase } from './backup-child';

const MB = 1e6;
const NODE_MODULES = join(__dirname, '..', 'node_modules');
/** Bytes per row of the generated tables, measured: sizes the data to the requested MB. */
const PG_BYTES_PER_ROW = 1140;
const SQLITE_BYTES_PER_ROW = 904;
const SQLITE_BACKUP_TIMEOUT_MS = 240_000;

function option(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] ? (argv[i + 1] as string) : fallback;
}

const elapsed = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;
const progress = (message: string) => console.log(`  [backup bench] ${message}`);
const fmt = (n: number, digits = 1) => n.toFixed(digits);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Pseudo-English text (Zipf-distributed made-up words): gzip shrinks it about 3x, like prose. */
function corpus(chars: number): string {
  const syllables =
    'an be co de en fo ge ha in jo ka li me no or pa qu re st th ur ve wa xe yo za al er is on';
  const parts = syllables.split(' ');
  const words = Array.from({ length: 3000 }, () => {
    let w = '';
    for (let j = 1 + Math.floor(Math.random() * 3); j > 0; j--)
      w += parts[Math.floor(Math.random() * parts.length)];
    return w;
  });
  const out: string[] = [];
  let len = 0;
  while (len < chars) {
    const w = `${words[Math.floor(Math.random() ** 3 * words.length)]}${Math.random() < 0.07 ? '.' : ''}`;
    out.push(w);
    len += w.length + 1;
  }
  return out.join(' ').slice(0, chars);
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Timed {
  ms: number;
}

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  stdout?: number,
): Promise<Timed & { tool: ToolTime | undefined }> {
  const started = performance.now();
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', ...env },
    stdio: ['ignore', stdout ?? 'ignore', 'pipe'],
  });
  const sampler = treeSampler(child.pid as number, command);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      const { tool } = sampler.stop();
      if (code === 0) resolve({ ms: performance.now() - started, tool });
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

/** Where a client tool's (pg_dump, pg_restore) lifetime went, from /proc/<pid>/schedstat. */
export interface ToolTime {
  /** On a CPU. */
  runS: number;
  /** Runnable but waiting for a CPU: other processes on the same cores. */
  cpuWaitS: number;
  /** Neither: blocked on a pipe, the server or the disk. */
  blockedS: number;
}

/**
 * Samples a process tree: the peak of its summed RSS (e.g. node + pg_dump), and how the named
 * tool in it spent its life (on a CPU, waiting for one, or blocked), so a slower run can be told
 * apart as contention from other processes or as the pipeline holding the tool back.
 */
function treeSampler(pid: number, tool?: string, everyMs = 50) {
  const rssKb = (p: number): number => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  };
  const tree = (p: number): number[] => {
    let kids: number[] = [];
    try {
      kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      // gone
    }
    return [p, ...kids.flatMap(tree)];
  };
  let peakKb = 0;
  const tools = new Map<number, { first: number; last: number; run: number; wait: number }>();
  const sample = () => {
    const pids = tree(pid);
    peakKb = Math.max(
      peakKb,
      pids.reduce((s, p) => s + rssKb(p), 0),
    );
    if (!tool) return;
    for (const p of pids) {
      try {
        if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() !== tool) continue;
        const [run, wait] = readFileSync(`/proc/${p}/schedstat`, 'utf8').split(' ').map(Number);
        const now = performance.now();
        const seen = tools.get(p);
        tools.set(p, {
          first: seen?.first ?? now,
          last: now,
          run: (run ?? 0) / 1e9,
          wait: (wait ?? 0) / 1e9,
        });
      } catch {
        // exited between listing and reading
      }
    }
  };
  const timer = setInterval(sample, everyMs);
  return {
    stop: (): { peakMB: number; tool: ToolTime | undefined } => {
      clearInterval(timer);
      const all = [...tools.values()];
      const t = all.length
        ? all.reduce(
            (a, x) => {
              const lifeS = (x.last - x.first) / 1000;
              return {
                runS: a.runS + x.run,
                cpuWaitS: a.cpuWaitS + x.wait,
                blockedS: a.blockedS + Math.max(0, lifeS - x.run - x.wait),
              };
            },
            { runS: 0, cpuWaitS: 0, blockedS: 0 },
          )
        : undefined;
      return { peakMB: peakKb / 1024, tool: t };
    },
  };
}

/** A child job without its result file (distributes over the union). */
type JobSpec<J = ChildJob> = J extends ChildJob ? Omit<J, 'resultFile'> : never;

interface ChildRun extends ChildResult {
  wallMs: number;
  treePeakMB: number;
  tool: ToolTime | undefined;
}

class Bench {
  private n = 0;

  constructor(
    readonly dir: string,
    readonly script: string,
    readonly s3: LocalS3,
    readonly server: ThrowawayPostgres,
  ) {}

  childEnv(extra: Record<string, string>): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_PATH: NODE_MODULES,
      TMPDIR: this.dir,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'WARN',
      ...this.s3.processEnv(),
      ...this.server.env(),
      ...extra,
    };
  }

  /** Runs one job in a child process; rejects after timeoutMs (the child is killed). */
  async child(
    job: JobSpec,
    options: { timeoutMs?: number; tool?: string; onPhase?: (phase: string) => void } = {},
  ): Promise<ChildRun> {
    const timeoutMs = options.timeoutMs ?? 900_000;
    const resultFile = join(this.dir, `child-${++this.n}.json`);
    const started = performance.now();
    const child = spawn(process.execPath, [this.script], {
      env: this.childEnv({ BENCH_JOB: JSON.stringify({ ...job, resultFile }) }),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    child.on('message', (m: { phase?: string }) => {
      if (m.phase) options.onPhase?.(m.phase);
    });
    const sampler = treeSampler(child.pid as number, options.tool);
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const code = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c ?? 1));
    });
    clearTimeout(timer);
    const { peakMB: treePeakMB, tool } = sampler.stop();
    if (timedOut) throw new TimeoutError(`${job.kind} did not finish within ${timeoutMs / 1000} s`);
    if (code !== 0) throw new Error(`${job.kind} child exited ${code}: ${stderr}`);
    const out = JSON.parse(readFileSync(resultFile, 'utf8')) as ChildResult;
    rmSync(resultFile);
    return { ...out, wallMs: performance.now() - started, treePeakMB, tool };
  }

  async query<T extends pg.QueryResultRow>(database: string, sql: string, params: unknown[] = []) {
    const c = new pg.Client({ ...this.server.connection, database });
    await c.connect();
    try {
      return (await c.query<T>(sql, params)).rows;
    } finally {
      await c.end();
    }
  }
}

class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/**
 * A memory-store-like database generated server-side: `memories` (text content of 300-900 chars,
 * jsonb metadata, a 32-float embedding, user and time index) and `users`, filled by two sessions in
 * parallel, then indexed, frozen and analyzed so every later read sees the same settled pages.
 */
async function generatePostgres(bench: Bench, database: string, mb: number) {
  const rows = Math.round((mb * MB) / PG_BYTES_PER_ROW);
  await bench.query('postgres', `CREATE DATABASE ${database}`);
  const text = corpus(700 * 1500);
  const chunks = Array.from({ length: 700 }, (_, i) => text.slice(i * 1500, (i + 1) * 1500));
  await bench.query(
    database,
    `CREATE TABLE corpus_chunks AS SELECT (n - 1)::int AS id, t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n)`,
    [chunks],
  );
  await bench.query(
    database,
    `CREATE TABLE users (id text PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL);
     INSERT INTO users SELECT 'user-' || i, 'User ' || i, timestamptz '2026-01-01' - i * interval '1 hour'
       FROM generate_series(0, 4999) i;
     CREATE TABLE memories (id bigint NOT NULL, user_id text NOT NULL, content text NOT NULL,
       metadata jsonb NOT NULL, embedding real[] NOT NULL, created_at timestamptz NOT NULL);`,
  );
  const half = Math.floor(rows / 2);
  const fill = (lo: number, hi: number) =>
    bench.query(
      database,
      `INSERT INTO memories
       SELECT i, 'user-' || (i % 5000),
              substr(c.t, 1 + (random() * 600)::int, 300 + (random() * 600)::int),
              jsonb_build_object('source', (ARRAY['chat', 'email', 'doc', 'api'])[1 + i % 4],
                                 'session', md5(i::text), 'score', round(random()::numeric, 4),
                                 'tags', jsonb_build_array('t' || (i % 97), 't' || (i % 13))),
              ARRAY(SELECT random()::real FROM generate_series(1, 32 + 0 * i)),
              timestamptz '2026-01-01' - i * interval '1 second'
         FROM generate_series($1::bigint, $2::bigint) i JOIN corpus_chunks c ON c.id = (i * 7919) % 700`,
      [lo, hi],
    );
  await Promise.all([fill(1, half), fill(half + 1, rows)]);
  await bench.query(
    database,
    `DROP TABLE corpus_chunks;
     ALTER TABLE memories ADD PRIMARY KEY (id);
     CREATE INDEX memories_user_time ON memories (user_id, created_at);`,
  );
  await bench.query(database, 'VACUUM (FREEZE, ANALYZE)');
  await bench.query(database, 'CHECKPOINT');
  const [size] = await bench.query<{ b: string }>(
    database,
    'SELECT pg_database_size(current_database()) AS b',
  );
  return { rows, bytes: Number(size?.b) };
}

interface PgResult {
  label: string;
  dbBytes: number;
  dumpBytes: number;
  rounds: number;
  restoreRounds: number;
  dumpMs: number;
  backupMs: number;
  backupWallMs: number;
  backupRssMB: number;
  backupTreeMB: number;
  pgRestoreMs: number;
  countMs: number;
  dropMs: number;
  restoreMs: number;
  restoreRssMB: number;
  /** How pg_dump / pg_restore spent their time, standalone and inside Switchback's step. */
  tools: Record<'dump' | 'backup' | 'pgRestore' | 'restore', ToolTime | undefined>;
  generateS: number;
}

function medianTool(xs: (ToolTime | undefined)[]): ToolTime | undefined {
  const ok = xs.filter((x): x is ToolTime => x !== undefined);
  if (!ok.length) return undefined;
  return {
    runS: median(ok.map((x) => x.runS)),
    cpuWaitS: median(ok.map((x) => x.cpuWaitS)),
    blockedS: median(ok.map((x) => x.blockedS)),
  };
}

async function benchPostgres(bench: Bench, mb: number): Promise<PgResult> {
  const database = `bench_${mb}mb`;
  const label = mb >= 1000 ? `${fmt(mb / 1000, mb % 1000 ? 1 : 0)} GB` : `${mb} MB`;
  const t0 = performance.now();
  progress(`PostgreSQL ${label}: generating ${database}...`);
  const { bytes } = await generatePostgres(bench, database, mb);
  const generateS = (performance.now() - t0) / 1000;
  progress(`PostgreSQL ${label}: ${fmt(bytes / MB)} MB generated in ${elapsed(t0)}`);

  // Alternating rounds, median: three for small databases; ~1 GB gets two backups, one restore
  // (time budget).
  const rounds = mb <= 300 ? 3 : 2;
  const restoreRounds = mb <= 300 ? 3 : 1;
  const env = bench.server.env(database);
  const dumps: number[] = [];
  const dumpTools: (ToolTime | undefined)[] = [];
  const backups: ChildRun[] = [];
  let manifest: BackupManifest | undefined;
  for (let r = 0; r < rounds; r++) {
    const devNull = openSync('/dev/null', 'w');
    try {
      const d = await run(
        'pg_dump',
        ['--format=custom', '--no-password', '--dbname', database],
        env,
        devNull,
      );
      dumps.push(d.ms);
      dumpTools.push(d.tool);
    } finally {
      closeSync(devNull);
    }
    const b = await bench.child(
      { kind: 'pg-backup', database, backupId: `bench-${mb}-${r}` },
      { tool: 'pg_dump' },
    );
    backups.push(b);
    manifest = b.result as BackupManifest;
    progress(
      `PostgreSQL ${label} round ${r + 1}/${rounds}: pg_dump ${fmt(dumps[r] as number, 0)} ms, backupPostgres ${fmt(b.ms, 0)} ms, RSS ${fmt(b.maxRssMB, 0)} MB`,
    );
  }
  if (!manifest) throw new Error('no backup');

  // The same dump, written to local disk for pg_restore.
  const dumpFile = join(bench.dir, `${database}.dump`);
  const store = new S3StreamStore(bench.s3.client, BENCH_BUCKET);
  await pipeline(await store.download(manifest.objectKey), createWriteStream(dumpFile));

  const pgRestores: number[] = [];
  const restoreTools: (ToolTime | undefined)[] = [];
  const counts: number[] = [];
  const drops: number[] = [];
  const restores: ChildRun[] = [];
  const fresh = `${database}_pgrestore`;
  for (let r = 0; r < restoreRounds; r++) {
    const started = performance.now();
    await bench.query('postgres', `CREATE DATABASE ${fresh}`);
    const restored = await run(
      'pg_restore',
      ['--no-owner', '--no-acl', '--exit-on-error', '--no-password', '--dbname', fresh, dumpFile],
      bench.server.env(fresh),
    );
    restoreTools.push(restored.tool);
    pgRestores.push(performance.now() - started);
    // What restorePostgres does beyond pg_restore, timed on this copy: the row counts that verify
    // it, and dropping the database it replaces.
    const client = new pg.Client({ ...bench.server.connection, database: fresh });
    await client.connect();
    const countStarted = performance.now();
    await rowCounts(client);
    counts.push(performance.now() - countStarted);
    await client.end();
    const dropStarted = performance.now();
    await bench.query('postgres', `DROP DATABASE ${fresh}`);
    drops.push(performance.now() - dropStarted);
    const restore = await bench.child(
      { kind: 'pg-restore', database, backupId: manifest.backupId },
      { tool: 'pg_restore' },
    );
    restores.push(restore);
    progress(
      `PostgreSQL ${label} round ${r + 1}/${restoreRounds}: pg_restore ${fmt(pgRestores[r] as number, 0)} ms, restorePostgres ${fmt(restore.ms, 0)} ms`,
    );
  }
  await bench.query('postgres', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  rmSync(dumpFile, { force: true });
  return {
    label,
    dbBytes: bytes,
    dumpBytes: manifest.sizeBytes,
    rounds,
    restoreRounds,
    dumpMs: median(dumps),
    backupMs: median(backups.map((b) => b.ms)),
    backupWallMs: median(backups.map((b) => b.wallMs)),
    backupRssMB: Math.max(...backups.map((b) => b.maxRssMB)),
    backupTreeMB: Math.max(...backups.map((b) => b.treePeakMB)),
    pgRestoreMs: median(pgRestores),
    countMs: median(counts),
    dropMs: median(drops),
    restoreMs: median(restores.map((r) => r.ms)),
    restoreRssMB: Math.max(...restores.map((r) => r.maxRssMB)),
    tools: {
      dump: medianTool(dumpTools),
      backup: medianTool(backups.map((b) => b.tool)),
      pgRestore: medianTool(restoreTools),
      restore: medianTool(restores.map((r) => r.tool)),
    },
    generateS,
  };
}

// ---------------------------------------------------------------------------------------------
// SQLite

function generateSqlite(path: string, mb: number): number {
  const rows = Math.round((mb * MB) / SQLITE_BYTES_PER_ROW);
  const text = corpus(1 << 20);
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE memories (id INTEGER PRIMARY KEY, content TEXT NOT NULL, meta TEXT,
               embedding BLOB, created_at INTEGER NOT NULL);
             CREATE INDEX memories_created ON memories (created_at);`);
    const insert = db.prepare(
      'INSERT INTO memories (content, meta, embedding, created_at) VALUES (?, ?, ?, ?)',
    );
    const embedding = Buffer.alloc(128);
    db.transaction(() => {
      for (let i = 0; i < rows; i++) {
        const at = Math.floor(Math.random() * (text.length - 1000));
        for (let k = 0; k < 32; k++) embedding.writeFloatLE(Math.random(), k * 4);
        insert.run(
          text.slice(at, at + 300 + (i % 600)),
          JSON.stringify({ source: i % 4, session: i.toString(36), tags: [`t${i % 97}`] }),
          embedding,
          1.7e12 + i * 1000,
        );
      }
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  return statSync(path).size;
}

interface SqliteResult {
  label: string;
  bytes: number;
  cpMs: number;
  backupMs: number | null;
  backupError: string | null;
  copyMs: number | null;
  backupRssMB: number | null;
  phases: WriterPhase[];
  generateS: number;
}

async function benchSqlite(bench: Bench, mb: number): Promise<SqliteResult> {
  const label = mb >= 1000 ? `${fmt(mb / 1000, mb % 1000 ? 1 : 0)} GB` : `${mb} MB`;
  const dir = join(bench.dir, 'sqlite');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'memory.sqlite');
  const t0 = performance.now();
  progress(`SQLite ${label}: generating...`);
  const bytes = generateSqlite(path, mb);
  const generateS = (performance.now() - t0) / 1000;
  progress(`SQLite ${label}: ${fmt(bytes / MB)} MB generated in ${elapsed(t0)}`);

  const writer: ChildProcess = fork(bench.script, [], {
    env: bench.childEnv({ BENCH_JOB: JSON.stringify({ kind: 'writer', path } satisfies ChildJob) }),
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const phase = (name: string) => writer.send({ phase: name });
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let cpMs = 0;
  let backupMs: number | null = null;
  let backupError: string | null = null;
  let backupRssMB: number | null = null;
  let copyMs: number | null = null;
  let phases: WriterPhase[] = [];
  try {
    await pause(1500);
    phase('cp');
    const dest = join(dir, 'cp-copy.sqlite');
    cpMs = (await run('cp', [path, dest], {})).ms;
    rmSync(dest, { force: true });
    phase('idle');
    await pause(1000);
    phase('backupSqlite: copy + integrity_check');
    try {
      const b = await bench.child(
        { kind: 'sqlite-backup', path, backupId: `bench-sqlite-${mb}` },
        { timeoutMs: SQLITE_BACKUP_TIMEOUT_MS, onPhase: (p) => phase(`backupSqlite: ${p}`) },
      );
      backupMs = b.ms;
      backupRssMB = b.maxRssMB;
    } catch (err) {
      backupError = (err as Error).message;
    }
    progress(
      `SQLite ${label}: cp ${fmt(cpMs, 0)} ms, backupSqlite ${backupMs === null ? backupError : `${fmt(backupMs, 0)} ms`}`,
    );
    phase('idle');
    await pause(1000);
    phase('backup API copy');
    try {
      const c = await bench.child(
        { kind: 'sqlite-copy', path, dest },
        { timeoutMs: SQLITE_BACKUP_TIMEOUT_MS },
      );
      copyMs = c.ms;
    } catch (err) {
      progress(`SQLite ${label}: backup API copy failed: ${(err as Error).message}`);
    }
    rmSync(dest, { force: true });
    phase('idle');
    await pause(500);
  } finally {
    phases = await new Promise<WriterPhase[]>((resolve) => {
      writer.once('message', (m) => resolve(m as WriterPhase[]));
      writer.once('exit', () => resolve([]));
      writer.send({ stop: true });
    });
    rmSync(dir, { recursive: true, force: true });
  }
  return { label, bytes, cpMs, backupMs, backupError, copyMs, backupRssMB, phases, generateS };
}

// ---------------------------------------------------------------------------------------------
// Report

function machine(bench: Bench, pgVersion: string, sqliteVersion: string): string[] {
  const cpu = cpus();
  let disk = '';
  try {
    disk =
      execFileSync('df', ['-h', '--output=source,fstype,size', bench.dir], { encoding: 'utf8' })
        .trim()
        .split('\n')[1]
        ?.replace(/\s+/g, ' ') ?? 'unknown';
  } catch {
    disk = 'unknown';
  }
  return [
    `machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown cpu'}), ${fmt(totalmem() / 2 ** 30, 0)} GiB RAM, temp dir on ${disk}`,
    `software: node ${process.version}, PostgreSQL ${pgVersion} (fsync=off, as in tests), SQLite ${sqliteVersion}, s3rver on 127.0.0.1 (same machine, same disk)`,
  ];
}

function report(
  pgs: PgResult[],
  sqlites: SqliteResult[],
  facts: string[],
  loadAtStart: string,
  totalS: number,
): void {
  const rate = (bytes: number, ms: number) => `${fmt(bytes / MB / (ms / 1000))} MB/s`;
  const verdict = (ok: boolean) => (ok ? '**pass**' : '**FAIL**');
  const lines: string[] = [];
  lines.push('| measure | data | Switchback | baseline | ratio | target | result |');
  lines.push('|---|---|---|---|---:|---|---|');
  for (const p of pgs) {
    const data = `PostgreSQL ${fmt(p.dbBytes / MB, 0)} MB (dump ${fmt(p.dumpBytes / MB, 0)} MB)`;
    const ratio = p.dumpMs / p.backupMs;
    lines.push(
      `| backup throughput | ${data} | backupPostgres ${fmt(p.backupMs / 1000, 2)} s: ${rate(p.dbBytes, p.backupMs)} db, ${rate(p.dumpBytes, p.backupMs)} dump | \`pg_dump -Fc > /dev/null\` ${fmt(p.dumpMs / 1000, 2)} s: ${rate(p.dbBytes, p.dumpMs)} db, ${rate(p.dumpBytes, p.dumpMs)} dump | ${fmt(ratio, 2)}x | >= 0.9x | ${verdict(ratio >= 0.9)} |`,
    );
  }
  const tt = (t: ToolTime | undefined) =>
    t
      ? `${fmt(t.runS)} s on CPU, ${fmt(t.cpuWaitS)} s waiting for a CPU, ${fmt(t.blockedS)} s blocked`
      : 'n/a';
  for (const p of pgs) {
    lines.push(
      `| of which: pg_dump's time | PostgreSQL ${fmt(p.dbBytes / MB, 0)} MB | inside backupPostgres: ${tt(p.tools.backup)} | alone: ${tt(p.tools.dump)} | | | informational |`,
    );
  }
  for (const p of pgs) {
    lines.push(
      `| peak RSS of the backup process | PostgreSQL ${fmt(p.dbBytes / MB, 0)} MB | ${fmt(p.backupRssMB, 0)} MB (node; with pg_dump ${fmt(p.backupTreeMB, 0)} MB) | | | <= 150 MB | ${verdict(p.backupRssMB <= 150)} |`,
    );
  }
  if (pgs.length > 1) {
    const lo = pgs[0] as PgResult;
    const hi = pgs[pgs.length - 1] as PgResult;
    const growth = hi.backupRssMB / lo.backupRssMB - 1;
    lines.push(
      `| peak RSS growth, ${lo.label} -> ${hi.label} | | ${growth >= 0 ? '+' : ''}${fmt(growth * 100, 0)}% (${fmt(lo.backupRssMB, 0)} -> ${fmt(hi.backupRssMB, 0)} MB) | | | flat (< 10%) | ${verdict(growth < 0.1)} |`,
    );
  }
  for (const p of pgs) {
    const ratio = p.pgRestoreMs / p.restoreMs;
    const beyond = p.countMs + p.dropMs;
    lines.push(
      `| restore throughput | PostgreSQL ${fmt(p.dbBytes / MB, 0)} MB (dump ${fmt(p.dumpBytes / MB, 0)} MB) | restorePostgres ${fmt(p.restoreMs / 1000, 2)} s: ${rate(p.dbBytes, p.restoreMs)} db (RSS ${fmt(p.restoreRssMB, 0)} MB) | createdb + \`pg_restore\` from a local file ${fmt(p.pgRestoreMs / 1000, 2)} s: ${rate(p.dbBytes, p.pgRestoreMs)} db | ${fmt(ratio, 2)}x | >= 0.9x | ${verdict(ratio >= 0.9)} |`,
    );
    lines.push(
      `| of which: pg_restore's time | PostgreSQL ${fmt(p.dbBytes / MB, 0)} MB | inside restorePostgres: ${tt(p.tools.restore)} | alone: ${tt(p.tools.pgRestore)} | | | informational |`,
    );
    lines.push(
      `| of which: work beyond pg_restore | PostgreSQL ${fmt(p.dbBytes / MB, 0)} MB | row-count verification ${fmt(p.countMs / 1000, 2)} s + dropping the replaced database ${fmt(p.dropMs / 1000, 2)} s (timed on the baseline's copy) | | ${fmt(p.pgRestoreMs / (p.restoreMs - beyond), 2)}x without them | | informational |`,
    );
  }
  for (const s of sqlites) {
    const data = `SQLite ${fmt(s.bytes / MB, 0)} MB, writer running`;
    if (s.backupMs === null) {
      lines.push(
        `| backup throughput | ${data} | backupSqlite: ${s.backupError} | \`cp\` ${fmt(s.cpMs / 1000, 2)} s: ${rate(s.bytes, s.cpMs)} | | (none set) | **did not finish** |`,
      );
    } else {
      lines.push(
        `| backup throughput | ${data} | backupSqlite ${fmt(s.backupMs / 1000, 2)} s: ${rate(s.bytes, s.backupMs)} (RSS ${fmt(s.backupRssMB ?? 0, 0)} MB) | \`cp\` ${fmt(s.cpMs / 1000, 2)} s: ${rate(s.bytes, s.cpMs)} | ${fmt(s.cpMs / s.backupMs, 2)}x | (none set) | informational |`,
      );
    }
    if (s.copyMs !== null) {
      lines.push(
        `| of which: backup API copy alone | ${data} | ${fmt(s.copyMs / 1000, 2)} s: ${rate(s.bytes, s.copyMs)} | \`cp\` ${fmt(s.cpMs / 1000, 2)} s | ${fmt(s.cpMs / s.copyMs, 2)}x | | informational |`,
      );
    }
    const parts = s.phases.filter((p) => p.phase.startsWith('backupSqlite'));
    const during = parts.length
      ? {
          maxGapMs: Math.max(...parts.map((p) => p.maxGapMs)),
          p99GapMs: Math.max(...parts.map((p) => p.p99GapMs)),
          maxInsertMs: Math.max(...parts.map((p) => p.maxInsertMs)),
          inserts: parts.reduce((n, p) => n + p.inserts, 0),
        }
      : undefined;
    const cp = s.phases.find((p) => p.phase === 'cp');
    const idle = s.phases.filter((p) => p.phase === 'idle' || p.phase === 'warm-up');
    const idleMax = Math.max(0, ...idle.map((p) => p.maxGapMs));
    if (during) {
      lines.push(
        `| writer's longest stall during backupSqlite | ${data} | ${fmt(during.maxGapMs)} ms max gap, p99 ${fmt(during.p99GapMs)} ms, longest insert ${fmt(during.maxInsertMs)} ms (${during.inserts} inserts) | during \`cp\` ${fmt(cp?.maxGapMs ?? 0)} ms, idle ${fmt(idleMax)} ms | | < 100 ms | ${verdict(during.maxGapMs < 100 && s.backupMs !== null)} |`,
      );
    }
  }
  const rounds = pgs.map((p) => `${p.label}: ${p.rounds} backup / ${p.restoreRounds} restore`).join(', ');
  console.log(
    `\nSwitchback backups and restores, side by side (MB = 10^6 bytes; median of alternating rounds: ${rounds})\n`,
  );
  for (const f of facts) console.log(`- ${f}`);
  console.log(
    `- load average (1 min) at start ${loadAtStart}, at end ${fmt(loadavg()[0] ?? 0, 1)}: other processes on these cores slow every row`,
  );
  console.log('');
  for (const l of lines) console.log(l);
  for (const s of sqlites) {
    const phases = s.phases
      .map((p) => `${p.phase} ${fmt(p.maxGapMs, 0)}/${fmt(p.maxInsertMs, 0)} ms`)
      .join(', ');
    console.log(`\nSQLite ${s.label} writer, longest gap / longest insert per phase: ${phases}`);
  }
  const gen = [
    ...pgs.map((p) => `PostgreSQL ${p.label} ${fmt(p.generateS, 0)} s`),
    ...sqlites.map((s) => `SQLite ${s.label} ${fmt(s.generateS, 0)} s`),
  ];
  console.log(`\nbackup section: ${fmt(totalS, 0)} s in all (data generation: ${gen.join(', ')})`);
}

// ---------------------------------------------------------------------------------------------

export async function backupBench(argv: string[]): Promise<void> {
  const started = performance.now();
  const loadAtStart = fmt(loadavg()[0] ?? 0, 1);
  const pgSizes = option(argv, '--pg-mb', '100,1000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const sqliteSizes = option(argv, '--sqlite-mb', '1000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const dir = mkdtempSync(join(tmpdir(), 'switchback-bench-backup-'));
  chmodSync(dir, 0o755); // the PostgreSQL cluster inside runs as the postgres user
  const previousTmp = process.env.TMPDIR;
  process.env.TMPDIR = dir; // ThrowawayPostgres makes its cluster dir in os.tmpdir(): keep it in here
  let s3: LocalS3 | undefined;
  let server: ThrowawayPostgres | undefined;
  try {
    const build = await bundleChild(join(dir, 'build'));
    s3 = await LocalS3.start(join(dir, 's3'), [BENCH_BUCKET]);
    server = await ThrowawayPostgres.start();
    const bench = new Bench(dir, build, s3, server);
    const [version] = await bench.query<{ v: string }>(
      'postgres',
      "SELECT current_setting('server_version') AS v",
    );
    const sqliteVersion = (() => {
      const db = new Database(':memory:');
      try {
        return (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
      } finally {
        db.close();
      }
    })();
    const facts = machine(bench, version?.v ?? '?', sqliteVersion);
    const pgs: PgResult[] = [];
    for (const mb of pgSizes) pgs.push(await benchPostgres(bench, mb));
    const sqlites: SqliteResult[] = [];
    for (const mb of sqliteSizes) sqlites.push(await benchSqlite(bench, mb));
    report(pgs, sqlites, facts, loadAtStart, (performance.now() - started) / 1000);
  } finally {
    await server?.stop();
    await s3?.close();
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
    rmSync(dir, { recursive: true, force: true });
    if (existsSync(dir)) console.error(`could not remove ${dir}`);
  }
}

async function bundleChild(outdir: string): Promise<string> {
  await build({
    entryPoints: { 'backup-child': join(__dirname, 'backup-child.ts') },
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'silent',
    external: ['better-sqlite3', 'pg-native'],
  });
  return join(outdir, 'backup-child.js');
}
