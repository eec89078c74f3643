import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Sha256Meter } from '../../functions/shared/checksum';
import {
  BackupChecksumMismatchError,
  BackupNotVerifiedError,
  BackupVerificationError,
  RestoreFailedError,
} from '../../functions/shared/errors';
import { ThrowawayPostgres } from '../../local/postgres';
import { listBackups, manifestKeyOf, resolveBackup, writeManifest } from '../../tasks/data/manifest';
import { backupPostgres, checkObject, restorePostgres, verifyPostgres } from '../../tasks/data/postgres';
import { flipByte, rewriteObject, startDataHarness } from '../support/data';

let server: ThrowawayPostgres;
let harness: Awaited<ReturnType<typeof startDataHarness>>;
let n = 0;
let db = '';

beforeAll(async () => {
  server = await ThrowawayPostgres.start();
  harness = await startDataHarness();
});
afterAll(async () => {
  await harness?.close();
  await server?.stop();
});

async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
  database: string,
  text: string,
  values?: unknown[],
) {
  const c = new pg.Client({ ...server.connection, database });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

/** A database with a few tables and types, and the digest of its whole content. */
async function seed(name: string, rows = 500) {
  await sql('postgres', `CREATE DATABASE ${name}`);
  await sql(
    name,
    `CREATE TABLE organisations (id text PRIMARY KEY, name text NOT NULL);
     CREATE TABLE memories (id bigserial PRIMARY KEY, org text REFERENCES organisations(id), body jsonb, tags text[], at timestamptz DEFAULT now());
     CREATE SCHEMA audit; CREATE TABLE audit.events (id int PRIMARY KEY, what text);
     INSERT INTO organisations VALUES ('a', 'Org A'), ('b', 'Org "B"');
     INSERT INTO memories (org, body, tags) SELECT CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END,
       jsonb_build_object('text', 'memory ' || i, 'n', i), ARRAY['t' || (i % 7)] FROM generate_series(1, ${rows}) i;
     INSERT INTO audit.events SELECT i, 'event ' || i FROM generate_series(1, 25) i;`,
  );
}

async function digest(name: string): Promise<string> {
  const rows = await sql<{ d: string }>(
    name,
    `SELECT md5(string_agg(t, '|' ORDER BY t)) AS d FROM (
       SELECT 'o' || row(o.*)::text AS t FROM organisations o
       UNION ALL SELECT 'm' || row(m.*)::text FROM memories m
       UNION ALL SELECT 'e' || row(e.*)::text FROM audit.events e) s`,
  );
  return rows[0]?.d ?? '';
}

const request = (backupId: string) => ({
  database: db,
  backupId,
  purpose: 'manual' as const,
  reason: 'test',
  executionId: 'arn:aws:states:local-1:000000000000:execution:switchback-test-backup:x',
});

beforeEach(async () => {
  db = `app_${++n}`;
  await seed(db);
});

describe('PostgreSQL backup', () => {
  it('round trip: the restored database is identical to the one backed up, and the manifest says what it holds', async () => {
    const before = await digest(db);
    const manifest = await backupPostgres(request('rt-1'), server.env(), harness.deps);
    expect(manifest).toMatchObject({
      environment: 'test',
      store: 'postgres',
      database: db,
      format: 'pg_dump-custom',
      rowCounts: { 'public.organisations': 2, 'public.memories': 500, 'audit.events': 25 },
      executionId: request('x').executionId,
      verification: null,
    });
    expect(manifest.serverVersion).toMatch(/^15\./);
    expect(manifest.sizeBytes).toBeGreaterThan(1000);
    // The checksum is on the object itself too, and it is the hash of the stored bytes.
    const tags = await harness.deps.objects.getTags(manifest.objectKey);
    expect(tags['switchback:sha256']).toBe(manifest.sha256);
    const meter = new Sha256Meter();
    meter.end(Buffer.from((await harness.deps.blobs.get(manifest.objectKey)) as Uint8Array));
    meter.resume();
    await new Promise((r) => meter.once('end', r));
    expect(meter.digest()).toBe(manifest.sha256);

    const verified = await verifyPostgres(manifest, server.env(), harness.deps);
    expect(verified.verification).toMatchObject({ status: 'passed', method: 'pg_restore-scratch' });
    expect((await harness.deps.objects.getTags(manifest.objectKey))['switchback:verified']).toBe('true');

    await sql(db, `DELETE FROM memories WHERE id % 3 = 0; UPDATE organisations SET name = 'changed'`);
    expect(await digest(db)).not.toBe(before);
    await restorePostgres(verified, db, server.env(), harness.deps);
    expect(await digest(db)).toBe(before);
    const leftovers = await sql<{ datname: string }>(
      'postgres',
      `SELECT datname FROM pg_database WHERE datname LIKE '%restore%' OR datname LIKE '%previous%' OR datname LIKE 'switchback_verify%'`,
    );
    expect(leftovers).toEqual([]);
  });

  it("row counts come from the dump's own snapshot even while writers keep writing", async () => {
    const writer = new pg.Client({ ...server.connection, database: db });
    await writer.connect();
    let writing = true;
    const writes = (async () => {
      let i = 0;
      while (writing) await writer.query(`INSERT INTO audit.events VALUES (${1000 + i++}, 'live write')`);
      return i;
    })();
    try {
      const manifest = await backupPostgres(request('live-1'), server.env(), harness.deps);
      writing = false;
      expect(await writes).toBeGreaterThan(0);
      // Verification restores the dump and compares with the manifest: they must agree exactly.
      const verified = await verifyPostgres(manifest, server.env(), harness.deps);
      expect(verified.verification?.status).toBe('passed');
    } finally {
      writing = false;
      await writes.catch(() => undefined);
      await writer.end();
    }
  });

  it('one flipped byte in the stored object: refused by checksum, target untouched', async () => {
    const manifest = await verifyPostgres(
      await backupPostgres(request('flip-1'), server.env(), harness.deps),
      server.env(),
      harness.deps,
    );
    await rewriteObject(harness, manifest.objectKey, flipByte(Math.floor(manifest.sizeBytes / 2)));
    const before = await digest(db);
    await sql(db, 'DELETE FROM audit.events');
    const changed = await digest(db);

    await expect(checkObject(manifest, harness.deps)).rejects.toThrow(BackupChecksumMismatchError);
    const err = await restorePostgres(manifest, db, server.env(), harness.deps).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(['BackupChecksumMismatchError', 'RestoreFailedError']).toContain((err as Error).name);
    expect(await digest(db)).toBe(changed);
    expect(changed).not.toBe(before);
  });

  it('a truncated dump is refused, target untouched', async () => {
    const manifest = await verifyPostgres(
      await backupPostgres(request('trunc-1'), server.env(), harness.deps),
      server.env(),
      harness.deps,
    );
    await rewriteObject(harness, manifest.objectKey, (b) => b.subarray(0, Math.floor(b.length * 0.6)));
    const before = await digest(db);
    await expect(checkObject(manifest, harness.deps)).rejects.toThrow(BackupChecksumMismatchError);
    await expect(restorePostgres(manifest, db, server.env(), harness.deps)).rejects.toThrow(
      BackupChecksumMismatchError,
    );
    expect(await digest(db)).toBe(before);
  });

  it('a restore failing midway leaves the original database intact and serving', async () => {
    const manifest = await verifyPostgres(
      await backupPostgres(request('mid-1'), server.env(), harness.deps),
      server.env(),
      harness.deps,
    );
    // A dump that hashes right but breaks pg_restore halfway (the manifest was made to match it).
    const body = Buffer.from((await harness.deps.blobs.get(manifest.objectKey)) as Uint8Array).subarray(
      0,
      Math.floor(manifest.sizeBytes * 0.7),
    );
    await harness.deps.blobs.put(manifest.objectKey, body, 'application/octet-stream');
    const meter = new Sha256Meter();
    meter.end(body);
    meter.resume();
    await new Promise((r) => meter.once('end', r));
    const forged = { ...manifest, sha256: meter.digest(), sizeBytes: body.length };
    const before = await digest(db);

    await expect(restorePostgres(forged, db, server.env(), harness.deps)).rejects.toThrow(RestoreFailedError);
    expect(await digest(db)).toBe(before);
    const c = new pg.Client({ ...server.connection, database: db });
    await c.connect();
    expect((await c.query('SELECT count(*)::int AS n FROM memories')).rows[0].n).toBe(500);
    await c.end();
    expect(await sql('postgres', `SELECT datname FROM pg_database WHERE datname = '${db}__restore'`)).toEqual(
      [],
    );
  });

  it('a backup whose scratch restore does not match its manifest fails verification and is never used', async () => {
    const manifest = await backupPostgres(request('bad-verify'), server.env(), harness.deps);
    const lying = { ...manifest, rowCounts: { ...manifest.rowCounts, 'public.memories': 499 } };
    await writeManifest(harness.deps.blobs, lying);
    await expect(verifyPostgres(lying, server.env(), harness.deps)).rejects.toThrow(BackupVerificationError);
    await expect(resolveBackup(harness.deps.blobs, 'test', 'postgres', db, 'bad-verify')).rejects.toThrow(
      BackupNotVerifiedError,
    );
    expect((await harness.deps.objects.getTags(manifest.objectKey))['switchback:verified']).toBe('false');
  });

  it('"latest verified" skips a newer unverified backup', async () => {
    const older = await verifyPostgres(
      await backupPostgres(request('lv-old'), server.env(), harness.deps),
      server.env(),
      harness.deps,
    );
    await new Promise((r) => setTimeout(r, 20));
    const newer = await backupPostgres(request('lv-new'), server.env(), harness.deps);
    const all = await listBackups(harness.deps.blobs, 'test', 'postgres', db);
    expect(all.map((m) => m.backupId)).toEqual(['lv-new', 'lv-old']);
    const chosen = await resolveBackup(harness.deps.blobs, 'test', 'postgres', db, 'latest-verified');
    expect(chosen.backupId).toBe(older.backupId);
    expect(newer.verification).toBeNull();
    expect(manifestKeyOf(chosen.objectKey)).toBe(`${older.objectKey}.manifest.json`);
  });

  it('a restore re-run twice does no harm', async () => {
    const manifest = await verifyPostgres(
      await backupPostgres(request('twice-1'), server.env(), harness.deps),
      server.env(),
      harness.deps,
    );
    const before = await digest(db);
    await sql(db, 'DELETE FROM memories');
    await restorePostgres(manifest, db, server.env(), harness.deps);
    await restorePostgres(manifest, db, server.env(), harness.deps);
    expect(await digest(db)).toBe(before);
    const dbs = (
      await sql<{ datname: string }>(
        'postgres',
        `SELECT datname FROM pg_database WHERE datname LIKE '${db}%'`,
      )
    ).map((r) => r.datname);
    expect(dbs).toEqual([db]);
  });

  it('the password never reaches the manifest, the tags or the logs', async () => {
    const manifest = await verifyPostgres(
      await backupPostgres(request('secret-1'), server.env(), harness.deps),
      server.env(),
      harness.deps,
    );
    const traces = [
      JSON.stringify(manifest),
      JSON.stringify(await harness.deps.objects.getTags(manifest.objectKey)),
      JSON.stringify(harness.logs),
      new TextDecoder().decode(
        (await harness.deps.blobs.get(manifestKeyOf(manifest.objectKey))) as Uint8Array,
      ),
    ];
    for (const t of traces)
      expect(t.includes(server.connection.password), 'a trace holds the password').toBe(false);
  });
});
