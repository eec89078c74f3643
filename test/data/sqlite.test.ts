import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupChecksumMismatchError, BackupNotVerifiedError } from '../../functions/shared/errors';
import { resolveBackup } from '../../tasks/data/manifest';
import { backupSqlite, inspectSqlite, restoreSqlite } from '../../tasks/data/sqlite';
import { flipByte, rewriteObject, startDataHarness } from '../support/data';
import { until } from '../support/world';

let harness: Awaited<ReturnType<typeof startDataHarness>>;
let dir: string;
let n = 0;

beforeAll(async () => {
  harness = await startDataHarness();
  dir = mkdtempSync(join(tmpdir(), 'switchback-sqlite-'));
});
afterAll(async () => {
  await harness?.close();
  rmSync(dir, { recursive: true, force: true });
});

function seed(rows = 300) {
  const path = join(dir, `memories-${++n}.sqlite`);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE memories (id INTEGER PRIMARY KEY, text TEXT NOT NULL, meta TEXT);
           CREATE TABLE projects (id TEXT PRIMARY KEY);
           CREATE INDEX memories_text ON memories(text);`);
  const insert = db.prepare('INSERT INTO memories (text, meta) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`memory ${i} ${'x'.repeat(i % 50)}`, JSON.stringify({ i }));
  })();
  db.prepare("INSERT INTO projects VALUES ('p1'), ('p2')").run();
  db.close();
  return path;
}

function content(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return JSON.stringify([
      db.prepare('SELECT * FROM memories ORDER BY id').all(),
      db.prepare('SELECT * FROM projects ORDER BY id').all(),
    ]);
  } finally {
    db.close();
  }
}

const request = (path: string, backupId: string) => ({
  database: 'memory',
  backupId,
  purpose: 'manual' as const,
  reason: 'test',
  executionId: 'arn:aws:states:local-1:000000000000:execution:switchback-test-backup:x',
  path,
  scratchDir: dir,
});

describe('SQLite backup', () => {
  it('round trip: restored data is identical; the copy was integrity-checked and the manifest is verified', async () => {
    const path = seed();
    const before = content(path);
    const manifest = await backupSqlite(request(path, `rt-${n}`), harness.deps);
    expect(manifest).toMatchObject({
      store: 'sqlite',
      format: 'sqlite-database',
      rowCounts: { memories: 300, projects: 2 },
    });
    expect(manifest.verification).toMatchObject({ status: 'passed', method: 'integrity_check' });
    expect((await harness.deps.objects.getTags(manifest.objectKey))['switchback:sha256']).toBe(
      manifest.sha256,
    );

    const db = new Database(path);
    db.prepare('DELETE FROM memories WHERE id < 100').run();
    db.close();
    expect(content(path)).not.toBe(before);
    await restoreSqlite(manifest, path, harness.deps);
    expect(content(path)).toBe(before);
    expect(inspectSqlite(path).integrity).toBe('ok');
  });

  it('a writer keeps writing during the backup: the copy is consistent and passes integrity_check', async () => {
    const path = seed(2_000);
    // A separate process writing as fast as it can, as the app would.
    const script = join(dir, 'writer.js');
    writeFileSync(
      script,
      `const D = require('better-sqlite3'); const db = new D(process.argv[2]); db.pragma('busy_timeout = 5000');
       const ins = db.prepare('INSERT INTO memories (text, meta) VALUES (?, ?)'); let i = 0;
       process.on('SIGTERM', () => { console.log(i); process.exit(0); });
       (function loop() { for (let k = 0; k < 50; k++) ins.run('live ' + i++, '{}'); setImmediate(loop); })();`,
    );
    const writer = spawn(process.execPath, [script, path], {
      env: { ...process.env, NODE_PATH: join(__dirname, '..', '..', 'node_modules') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let written = '';
    writer.stdout.on('data', (c: Buffer) => {
      written += c.toString();
    });
    // Start the backup only once the writer is really writing.
    await until(() => inspectSqlite(path).rowCounts.memories! > 2_100, 15_000);
    try {
      const manifest = await backupSqlite(request(path, `live-${n}`), harness.deps);
      const restoredPath = join(dir, `restored-${n}.sqlite`);
      await restoreSqlite(manifest, restoredPath, harness.deps);
      const restored = inspectSqlite(restoredPath);
      expect(restored.integrity).toBe('ok');
      expect(restored.rowCounts).toEqual(manifest.rowCounts);
      expect(manifest.rowCounts.memories).toBeGreaterThan(2_000);
    } finally {
      writer.kill('SIGTERM');
      await new Promise((r) => writer.once('close', r));
    }
    expect(Number(written.trim())).toBeGreaterThan(0);
    expect(inspectSqlite(path).rowCounts.memories).toBeGreaterThan(2_000);
  });

  it('one flipped byte: refused before the target is touched', async () => {
    const path = seed();
    const manifest = await backupSqlite(request(path, `flip-${n}`), harness.deps);
    await rewriteObject(harness, manifest.objectKey, flipByte(5000));
    const db = new Database(path);
    db.prepare("INSERT INTO projects VALUES ('after-backup')").run();
    db.close();
    const current = content(path);
    await expect(restoreSqlite(manifest, path, harness.deps)).rejects.toThrow(BackupChecksumMismatchError);
    expect(content(path)).toBe(current);
    expect(readdirRestoreLeftovers()).toEqual([]);
  });

  it('a truncated copy: refused, target untouched', async () => {
    const path = seed();
    const manifest = await backupSqlite(request(path, `trunc-${n}`), harness.deps);
    await rewriteObject(harness, manifest.objectKey, (b) => b.subarray(0, 4096));
    const current = content(path);
    await expect(restoreSqlite(manifest, path, harness.deps)).rejects.toThrow(BackupChecksumMismatchError);
    expect(content(path)).toBe(current);
  });

  it("the target's old WAL never leaks into the restored file", async () => {
    const path = seed();
    const before = content(path);
    const manifest = await backupSqlite(request(path, `wal-${n}`), harness.deps);
    // Rows that live only in the WAL (no checkpoint), then restore over them.
    const db = new Database(path);
    db.pragma('wal_autocheckpoint = 0');
    db.prepare("INSERT INTO projects VALUES ('wal-only')").run();
    await restoreSqlite(manifest, path, harness.deps);
    db.close();
    expect(existsSync(`${path}-wal`) ? 'wal present' : 'no wal').toBe('no wal');
    expect(content(path)).toBe(before);
  });

  it('a restore re-run twice does no harm; an unverified backup is refused', async () => {
    const path = seed();
    const before = content(path);
    const manifest = await backupSqlite(request(path, `twice-${n}`), harness.deps);
    await restoreSqlite(manifest, path, harness.deps);
    await restoreSqlite(manifest, path, harness.deps);
    expect(content(path)).toBe(before);

    await harness.deps.blobs.put(
      `${manifest.objectKey}.manifest.json`,
      JSON.stringify({ ...manifest, verification: null }),
      'application/json',
    );
    await expect(
      resolveBackup(harness.deps.blobs, 'test', 'sqlite', 'memory', manifest.backupId),
    ).rejects.toThrow(BackupNotVerifiedError);
  });
});

function readdirRestoreLeftovers(): string[] {
  return require('node:fs')
    .readdirSync(dir)
    .filter((f: string) => f.includes('.restore-'));
}
