import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { Sha256Meter } from '../../functions/shared/checksum';
import {
  BackupChecksumMismatchError,
  BackupFailedError,
  BackupVerificationError,
  RestoreFailedError,
} from '../../functions/shared/errors';
import type { BlobStore, Clock, Log, StreamStore } from '../../functions/shared/ports';
import { type BackupManifest, objectKeyOf, writeManifest } from './manifest';
import { finished, spawnTool } from './process';

/** libpq connection settings (PGHOST, PGPORT, PGUSER, PGPASSWORD): ECS injects PGPASSWORD from a secret. */
export type PgEnv = Record<string, string>;

export interface DataDeps {
  readonly environment: string;
  readonly blobs: BlobStore;
  readonly objects: StreamStore;
  readonly clock: Clock;
  readonly log: Log;
}

export interface BackupRequest {
  readonly database: string;
  readonly backupId: string;
  readonly purpose: BackupManifest['purpose'];
  readonly reason: string;
  readonly executionId: string;
}

/**
 * node-postgres settings that match what libpq (pg_dump, pg_restore) does with the same
 * environment, PGSSLMODE and PGSSLROOTCERT included: RDS forces TLS by default on PostgreSQL 15.
 */
export function clientConfig(env: PgEnv, database: string): pg.ClientConfig {
  const mode = env.PGSSLMODE ?? 'prefer';
  let ssl: pg.ClientConfig['ssl'];
  if (mode === 'require') ssl = { rejectUnauthorized: false };
  if (mode === 'verify-ca' || mode === 'verify-full') {
    ssl = {
      rejectUnauthorized: true,
      ...(env.PGSSLROOTCERT ? { ca: readFileSync(env.PGSSLROOTCERT, 'utf8') } : {}),
      ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
    };
  }
  return {
    host: env.PGHOST,
    port: env.PGPORT ? Number(env.PGPORT) : undefined,
    user: env.PGUSER,
    password: env.PGPASSWORD,
    database,
    application_name: 'switchback',
    ...(ssl ? { ssl } : {}),
  };
}

function connect(env: PgEnv, database: string): pg.Client {
  return new pg.Client(clientConfig(env, database));
}

async function withClient<T>(env: PgEnv, database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = connect(env, database);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Exact row counts of every ordinary table, in the client's current transaction/snapshot. */
export async function rowCounts(client: pg.Client): Promise<Record<string, number>> {
  const tables = await client.query<{ name: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
      ORDER BY 1`,
  );
  const counts: Record<string, number> = {};
  for (const { name } of tables.rows) {
    const r = await client.query<{ n: string }>(`SELECT count(*)::bigint AS n FROM ${name}`);
    counts[name] = Number(r.rows[0]?.n ?? 0);
  }
  return counts;
}

/**
 * pg_dump (custom format) streamed straight into a multipart upload, hashed on the way; row counts
 * are taken in the very snapshot pg_dump dumps (`pg_export_snapshot` + `--snapshot`), so the
 * manifest describes exactly what is in the file. Nothing is held whole in memory or on disk.
 */
export async function backupPostgres(
  req: BackupRequest,
  env: PgEnv,
  deps: DataDeps,
): Promise<BackupManifest> {
  const started = deps.clock.now();
  const objectKey = objectKeyOf(deps.environment, 'postgres', req.database, req.backupId);
  return withClient(env, req.database, async (client) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await client.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]?.s ?? '';
    const serverVersion =
      (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ??
      'unknown';
    const counts = await rowCounts(client);

    const dump = spawnTool(
      'pg_dump',
      ['--format=custom', '--no-password', `--snapshot=${snapshot}`, '--dbname', req.database],
      { ...env, PGDATABASE: req.database },
    );
    const exit = finished(dump);
    const meter = new Sha256Meter();
    dump.stdout?.pipe(meter);
    try {
      await deps.objects.upload(objectKey, meter, 'application/vnd.postgresql.custom-dump');
    } catch (err) {
      dump.kill('SIGTERM');
      await exit.catch(() => undefined);
      throw new BackupFailedError(`Upload of ${objectKey} failed: ${(err as Error).message}`);
    }
    const { code, stderr } = await exit;
    await client.query('COMMIT');
    if (code !== 0) {
      await deps.objects.delete(objectKey).catch(() => undefined);
      throw new BackupFailedError(`pg_dump of ${req.database} exited ${code}: ${stderr}`);
    }
    const sha256 = meter.digest();
    await deps.objects.setTags(objectKey, {
      'switchback:sha256': sha256,
      'switchback:verified': 'false',
      'switchback:expirable': 'true',
    });
    const manifest: BackupManifest = {
      schemaVersion: 1,
      backupId: req.backupId,
      environment: deps.environment,
      store: 'postgres',
      database: req.database,
      objectKey,
      format: 'pg_dump-custom',
      serverVersion,
      sizeBytes: meter.bytes,
      sha256,
      rowCounts: counts,
      purpose: req.purpose,
      reason: req.reason,
      executionId: req.executionId,
      takenAt: started.toISOString(),
      durationMs: deps.clock.now().getTime() - started.getTime(),
      verification: null,
    };
    await writeManifest(deps.blobs, manifest);
    deps.log.info('postgres backup written', {
      backupId: req.backupId,
      bytes: meter.bytes,
      tables: Object.keys(counts).length,
    });
    return manifest;
  });
}

const ident = (name: string) => pg.Client.prototype.escapeIdentifier(name);

async function dropDatabase(env: PgEnv, name: string): Promise<void> {
  await withClient(env, 'postgres', (c) => c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`));
}

/**
 * Streams the stored object through sha256 into `pg_restore` into a fresh database. Throws
 * BackupChecksumMismatchError when the bytes are not the recorded ones, RestoreFailedError when
 * pg_restore fails; either way the fresh database is dropped.
 */
async function restoreInto(
  manifest: BackupManifest,
  env: PgEnv,
  target: string,
  deps: DataDeps,
): Promise<Record<string, number>> {
  await dropDatabase(env, target);
  await withClient(env, 'postgres', (c) => c.query(`CREATE DATABASE ${ident(target)}`));
  try {
    const source = await deps.objects.download(manifest.objectKey);
    const meter = new Sha256Meter();
    const restore = spawnTool(
      'pg_restore',
      ['--no-owner', '--no-acl', '--exit-on-error', '--no-password', '--dbname', target],
      { ...env, PGDATABASE: target },
    );
    const exit = finished(restore);
    const fed = pipeline(source, meter, restore.stdin as NodeJS.WritableStream).catch((err: Error) => err);
    const [{ code, stderr }, fedError] = await Promise.all([exit, fed]);
    // When the whole object went through, its checksum speaks first: a corrupt or truncated object
    // is refused as such, whatever pg_restore made of it.
    const fedFully = !(fedError instanceof Error);
    if (fedFully && (meter.digest() !== manifest.sha256 || meter.bytes !== manifest.sizeBytes)) {
      throw new BackupChecksumMismatchError(
        `Backup ${manifest.backupId}: stored object hashes to ${meter.digest().slice(0, 12)}... (${meter.bytes} bytes), manifest says ${manifest.sha256.slice(0, 12)}... (${manifest.sizeBytes} bytes)`,
      );
    }
    if (code !== 0)
      throw new RestoreFailedError(
        `pg_restore of ${manifest.backupId} into ${target} exited ${code}: ${stderr}`,
      );
    if (!fedFully)
      throw new RestoreFailedError(`Streaming ${manifest.backupId} failed: ${(fedError as Error).message}`);
    return await withClient(env, target, rowCounts);
  } catch (err) {
    await dropDatabase(env, target).catch(() => undefined);
    throw err;
  }
}

function compareCounts(expected: Record<string, number>, actual: Record<string, number>): string[] {
  const names = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  return [...names]
    .filter((n) => expected[n] !== actual[n])
    .map((n) => `${n}: expected ${expected[n] ?? 'no table'}, found ${actual[n] ?? 'no table'}`);
}

/**
 * Proves a backup restorable: restore into a scratch database, compare row counts with the
 * manifest, drop the scratch. The verdict is written to the manifest and the object's tags.
 */
export async function verifyPostgres(
  manifest: BackupManifest,
  env: PgEnv,
  deps: DataDeps,
): Promise<BackupManifest> {
  const scratch = `switchback_verify_${randomBytes(4).toString('hex')}`;
  let verification: NonNullable<BackupManifest['verification']>;
  try {
    const counts = await restoreInto(manifest, env, scratch, deps);
    const diff = compareCounts(manifest.rowCounts, counts);
    verification = diff.length
      ? {
          status: 'failed',
          method: 'pg_restore-scratch',
          at: deps.clock.now().toISOString(),
          detail: `row counts differ: ${diff.join('; ')}`,
        }
      : {
          status: 'passed',
          method: 'pg_restore-scratch',
          at: deps.clock.now().toISOString(),
          detail: `restored into a scratch database; ${Object.keys(counts).length} tables, row counts match`,
        };
  } catch (err) {
    verification = {
      status: 'failed',
      method: 'pg_restore-scratch',
      at: deps.clock.now().toISOString(),
      detail: `${(err as Error).name}: ${(err as Error).message}`,
    };
  } finally {
    await dropDatabase(env, scratch).catch(() => undefined);
  }
  const updated = { ...manifest, verification };
  await writeManifest(deps.blobs, updated);
  await deps.objects.setTags(manifest.objectKey, {
    'switchback:verified': verification.status === 'passed' ? 'true' : 'false',
  });
  if (verification.status !== 'passed')
    throw new BackupVerificationError(`Backup ${manifest.backupId} did not verify: ${verification.detail}`);
  return updated;
}

/**
 * Restores a verified backup over `database` without ever leaving it half restored: the dump goes
 * into `<database>__restore` first (checksum and row counts checked), and only then the two are
 * swapped by rename. Remaining sessions on the target are ended (writers are stopped before).
 */
export async function restorePostgres(
  manifest: BackupManifest,
  database: string,
  env: PgEnv,
  deps: DataDeps,
) {
  const staged = `${database}__restore`;
  const previous = `${database}__previous`;
  const counts = await restoreInto(manifest, env, staged, deps);
  const diff = compareCounts(manifest.rowCounts, counts);
  if (diff.length) {
    await dropDatabase(env, staged);
    throw new RestoreFailedError(
      `Restored ${manifest.backupId} does not match its manifest: ${diff.join('; ')}`,
    );
  }
  await dropDatabase(env, previous);
  await withClient(env, 'postgres', async (c) => {
    // No new sessions on the target from here, then end the ones left (the writers are stopped).
    await c.query(`ALTER DATABASE ${ident(database)} ALLOW_CONNECTIONS false`);
    try {
      await c.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [database],
      );
      await c.query(`ALTER DATABASE ${ident(database)} RENAME TO ${ident(previous)}`);
    } catch (err) {
      await c.query(`ALTER DATABASE ${ident(database)} ALLOW_CONNECTIONS true`).catch(() => undefined);
      throw new RestoreFailedError(
        `Could not take ${database} out of service for the swap: ${(err as Error).message}`,
      );
    }
    try {
      await c.query(`ALTER DATABASE ${ident(staged)} RENAME TO ${ident(database)}`);
    } catch (err) {
      await c.query(`ALTER DATABASE ${ident(previous)} RENAME TO ${ident(database)}`);
      await c.query(`ALTER DATABASE ${ident(database)} ALLOW_CONNECTIONS true`);
      throw new RestoreFailedError(
        `Swapping in ${staged} failed, original put back: ${(err as Error).message}`,
      );
    }
  });
  await dropDatabase(env, previous);
  deps.log.info('postgres restore swapped in', { backupId: manifest.backupId, database });
  return { backupId: manifest.backupId, database, rowCounts: counts };
}

/** Row counts of a live database (used to verify a restore end to end). */
export async function liveRowCounts(env: PgEnv, database: string): Promise<Record<string, number>> {
  return withClient(env, database, rowCounts);
}

/** Streams the object through sha256 without restoring it: the cheap check before any change. */
export async function checkObject(
  manifest: BackupManifest,
  deps: DataDeps,
): Promise<{ sha256: string; bytes: number }> {
  const meter = new Sha256Meter();
  const source = await deps.objects.download(manifest.objectKey);
  // Only the hash matters: the bytes go nowhere.
  await pipeline(source, meter, new Writable({ write: (_chunk, _enc, done) => done() }));
  if (meter.digest() !== manifest.sha256 || meter.bytes !== manifest.sizeBytes) {
    throw new BackupChecksumMismatchError(
      `Backup ${manifest.backupId}: stored object hashes to ${meter.digest().slice(0, 12)}... (${meter.bytes} bytes), manifest says ${manifest.sha256.slice(0, 12)}... (${manifest.sizeBytes} bytes)`,
    );
  }
  return { sha256: meter.digest(), bytes: meter.bytes };
}
