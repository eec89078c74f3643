import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { World } from '../../local/world';
import { listBackups, manifestKeyOf, objectKeyOf } from '../../tasks/data/manifest';
import { flagState, pathOf, startWorld, type TestWorldOptions } from '../support/world';

/**
 * The backup and restore procedures end to end: ASL + data task (a real process running pg_dump,
 * pg_restore and SQLite's backup API) + s3rver + a throwaway PostgreSQL + the reference API, whose
 * own memory store is the SQLite database being restored.
 */
let world: (World & { dispose(): Promise<void> }) | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});
async function open(options: TestWorldOptions = {}) {
  world = await startWorld({ ...options, postgres: true });
  return world;
}

async function pgRows(w: World, text: string) {
  const c = new pg.Client({ ...w.postgres!.connection, database: 'memory' });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

async function remember(w: World, text: string) {
  const res = await fetch(`${w.config.endpoints.api}/memories`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  expect(res.status).toBe(201);
}

async function recalls(w: World, text: string): Promise<boolean> {
  const res = await fetch(`${w.config.endpoints.api}/memories/recall?q=${encodeURIComponent(text)}&k=5`);
  const body = (await res.json()) as { results: { text: string }[] };
  return body.results.some((r) => r.text === text);
}

const outcomes = (w: World) => w.engine.notifications.map((n) => n.attributes.outcome);

describe('backup', () => {
  it('takes a PostgreSQL backup, proves it restorable and tags it as the one to keep', async () => {
    const w = await open();
    const run = await w.engine.run('backup', {
      store: 'postgres',
      database: 'memory',
      reason: 'before the cutover',
    });
    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run)).toEqual([
      'ValidateInput',
      'TakeBackup',
      'BackupResult',
      'VerifyBackup',
      'VerifyResult',
      'UpdateRetention',
      'BackedUp',
    ]);
    expect(run.output).toMatchObject({
      store: 'postgres',
      database: 'memory',
      verified: true,
      rowCounts: { 'public.memory_fragments': 200, 'public.organisations': 2 },
    });
    const [manifest] = await listBackups(w.blobs, w.config.environment, 'postgres', 'memory');
    expect(manifest?.verification).toMatchObject({ status: 'passed', method: 'pg_restore-scratch' });
    expect(manifest?.executionId).toBe(run.arn);
    expect(await w.objects.getTags(manifest!.objectKey)).toMatchObject({
      'switchback:verified': 'true',
      'switchback:expirable': 'false',
    });
  });

  it('a bad input (unknown database) is refused before anything runs', async () => {
    const w = await open();
    const run = await w.engine.run('backup', { store: 'postgres', database: 'nope', reason: 'typo' });
    expect(run.error).toBe('InvalidInputError');
    expect(run.cause).toMatch(/database: "nope" is not a configured postgres database/);
    expect(pathOf(run)).toEqual(['ValidateInput', 'InputRejected']);
    expect(await w.blobs.list('backups/')).toEqual([]);
  });
});

describe('restore-sqlite', () => {
  it('restores the memory store the API serves: memories from before the backup come back, later ones go', async () => {
    const w = await open();
    await remember(w, 'kept memory about espresso');
    const backup = await w.engine.run('backup', { store: 'sqlite', database: 'memory', reason: 'nightly' });
    expect(backup.status).toBe('SUCCEEDED');
    await remember(w, 'later memory about matcha');

    const run = await w.engine.run('restore-sqlite', {
      database: 'memory',
      reason: 'bad import after the backup',
    });
    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run)).toEqual([
      'ValidateInput',
      'AcquireLock',
      'ResolveBackup',
      'CheckBackup',
      'CheckResult',
      'TakeSafetyBackup',
      'SafetyResult',
      'VerifySafety',
      'VerifySafetyResult',
      'StartMaintenance',
      'StopWriters',
      'Restore',
      'RestoreResult',
      'ClearMaintenance',
      'StartWriters',
      ...pathOf(run).filter((s) => s === 'WaitForStable' || s === 'CheckStable'),
      'InspectTarget',
      'InspectResult',
      'VerifyApiHealth',
      'VerifyMemoryRead',
      'UpdateRetention',
      'ReleaseLock',
      'Notify',
      'PublishNotice',
      'Restored',
    ]);
    expect(await recalls(w, 'kept memory about espresso')).toBe(true);
    expect(await recalls(w, 'later memory about matcha')).toBe(false);
    // The state before the restore is kept as a verified safety backup.
    const backups = await listBackups(w.blobs, w.config.environment, 'sqlite', 'memory');
    const safety = backups.find((b) => b.purpose === 'safety');
    expect(safety?.verification?.status).toBe('passed');
    expect(safety?.rowCounts.memories).toBe(
      (backup.output as { rowCounts: { memories: number } }).rowCounts.memories + 1,
    );
    expect((await flagState(w))['maintenance-mode']!.value).toBe('off');
    expect(await w.lock()).toBeUndefined();
    expect(outcomes(w)).toEqual(['restored']);
  });

  it('one flipped byte in the stored backup: refused with BackupChecksumMismatchError, nothing changed', async () => {
    const w = await open();
    await remember(w, 'memory one');
    const backup = await w.engine.run('backup', { store: 'sqlite', database: 'memory', reason: 'nightly' });
    const key = (backup.output as { objectKey: string }).objectKey;
    const body = Buffer.from((await w.blobs.get(key)) as Uint8Array);
    body[body.length - 100] = (body[body.length - 100] as number) ^ 0x01;
    await w.blobs.put(key, body, 'application/vnd.sqlite3');
    await remember(w, 'memory two');
    const flags = await flagState(w);

    const run = await w.engine.run('restore-sqlite', { database: 'memory', reason: 'test corrupt' });
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('BackupChecksumMismatchError');
    expect(pathOf(run)).toEqual([
      'ValidateInput',
      'AcquireLock',
      'ResolveBackup',
      'CheckBackup',
      'CheckResult',
      'ReleaseLockNothingChanged',
      'Notify',
      'PublishNotice',
      'RestoreRefused',
    ]);
    expect(await flagState(w)).toEqual(flags);
    expect(await recalls(w, 'memory two')).toBe(true);
    expect(
      (await listBackups(w.blobs, w.config.environment, 'sqlite', 'memory')).filter(
        (b) => b.purpose === 'safety',
      ),
    ).toEqual([]);
    expect(await w.lock()).toBeUndefined();
    expect(outcomes(w)).toEqual(['restore-refused']);
  });

  it('a failure after the point of no return puts the safety backup back, verified', async () => {
    const w = await open({ faults: [{ procedure: 'restore-sqlite', state: 'VerifyMemoryRead' }] });
    await remember(w, 'old memory');
    expect(
      (await w.engine.run('backup', { store: 'sqlite', database: 'memory', reason: 'nightly' })).status,
    ).toBe('SUCCEEDED');
    await remember(w, 'newer memory that must survive');

    const run = await w.engine.run('restore-sqlite', { database: 'memory', reason: 'test recovery' });
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('RestoreFailedError');
    expect(pathOf(run).slice(pathOf(run).indexOf('VerifyMemoryRead'))).toEqual([
      'VerifyMemoryRead',
      'RecoverMaintenance',
      'RecoverStopWriters',
      'PutSafetyBack',
      'PutSafetyBackResult',
      'RecoverClearMaintenance',
      'RecoverStartWriters',
      ...pathOf(run).filter((s) => s === 'RecoverWaitForStable' || s === 'RecoverCheckStable'),
      'RecoverVerifyApi',
      'ReleaseLockAfterRecovery',
      'Notify',
      'PublishNotice',
      'RestoreFailed',
    ]);
    expect(await recalls(w, 'newer memory that must survive')).toBe(true);
    expect((await flagState(w))['maintenance-mode']!.value).toBe('off');
    expect((await w.apiHealth()).body.status).toBe('ok');
    expect(await w.lock()).toBeUndefined();
    expect(outcomes(w)).toEqual(['restore-failed-recovered']);
  });

  it('re-run twice with the same backup it does no harm', async () => {
    const w = await open();
    await remember(w, 'stable memory');
    expect(
      (await w.engine.run('backup', { store: 'sqlite', database: 'memory', reason: 'nightly' })).status,
    ).toBe('SUCCEEDED');
    const backupId = (await listBackups(w.blobs, w.config.environment, 'sqlite', 'memory'))[0]!.backupId;
    for (const _ of [1, 2]) {
      const run = await w.engine.run('restore-sqlite', { database: 'memory', backupId, reason: 'again' });
      expect(run.status).toBe('SUCCEEDED');
      expect(await recalls(w, 'stable memory')).toBe(true);
    }
  });
});

describe('restore-postgres', () => {
  it('puts the database back as it was at the backup, swapped in whole, and refuses an unverified backup', async () => {
    const w = await open();
    const backup = await w.engine.run('backup', { store: 'postgres', database: 'memory', reason: 'nightly' });
    expect(backup.status).toBe('SUCCEEDED');
    await pgRows(w, "DELETE FROM memory_fragments WHERE organisation_id = 'org-b'");
    expect((await pgRows(w, 'SELECT count(*)::int AS n FROM memory_fragments'))[0].n).toBe(100);

    const run = await w.engine.run('restore-postgres', { database: 'memory', reason: 'accidental delete' });
    expect(run.status).toBe('SUCCEEDED');
    expect((await pgRows(w, 'SELECT count(*)::int AS n FROM memory_fragments'))[0].n).toBe(200);
    expect(run.output).toMatchObject({ outcome: 'restored', rowCounts: { 'public.memory_fragments': 200 } });
    const dbs = await pgRows(
      w,
      "SELECT datname FROM pg_database WHERE datname LIKE 'memory%' OR datname LIKE 'switchback%' ORDER BY 1",
    );
    expect(dbs.map((r) => r.datname)).toEqual(['memory']);

    // A backup taken but never verified is refused by name.
    const unverified = await w.engine.run('backup', {
      store: 'postgres',
      database: 'memory',
      reason: 'will be unverified',
    });
    const id = (unverified.output as { backupId: string }).backupId;
    const key = manifestKeyOf(objectKeyOf(w.config.environment, 'postgres', 'memory', id));
    const manifest = JSON.parse(new TextDecoder().decode((await w.blobs.get(key)) as Uint8Array));
    await w.blobs.put(key, JSON.stringify({ ...manifest, verification: null }), 'application/json');
    const refused = await w.engine.run('restore-postgres', {
      database: 'memory',
      backupId: id,
      reason: 'use the unverified one',
    });
    expect(refused.error).toBe('BackupNotVerifiedError');
    expect(pathOf(refused)).toEqual([
      'ValidateInput',
      'AcquireLock',
      'ResolveBackup',
      'ReleaseLockNothingChanged',
      'Notify',
      'PublishNotice',
      'RestoreRefused',
    ]);
  });

  it('no credential appears in any execution, notification, log, manifest, result or task log', async () => {
    const w = await open();
    await w.engine.run('backup', { store: 'postgres', database: 'memory', reason: 'scan' });
    await w.engine.run('restore-postgres', { database: 'memory', reason: 'scan' });
    const password = w.postgres!.connection.password;
    const files = (d: string): string[] =>
      readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? files(join(d, f)) : [join(d, f)]));
    const traces = [
      JSON.stringify(w.engine.executions),
      JSON.stringify(w.engine.notifications),
      JSON.stringify(w.logs.entries),
      ...files(join(w.dir, 's3')).map((f) => readFileSync(f).toString('latin1')),
      ...files(join(w.dir, 'logs')).map((f) => readFileSync(f, 'utf8')),
    ];
    expect(traces.some((t) => t.includes('pg_dump-custom'))).toBe(true);
    for (const [i, t] of traces.entries())
      expect(t.includes(password), `trace #${i} holds the password`).toBe(false);
  });
});
