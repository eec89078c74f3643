import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import { Sha256Meter } from '../../functions/shared/checksum';
import {
  BackupChecksumMismatchError,
  BackupFailedError,
  BackupNotFoundError,
  RestoreFailedError,
} from '../../functions/shared/errors';
import { type BackupManifest, objectKeyOf, writeManifest } from './manifest';
import type { BackupRequest, DataDeps } from './postgres';

/** Pages per backup step: more than any database has, i.e. the whole database in one step. */
const ALL_PAGES = 0x7fffffff;

/** Rows per table and `PRAGMA integrity_check` of a SQLite file. */
export function inspectSqlite(path: string): {
  integrity: string;
  rowCounts: Record<string, number>;
  version: string;
} {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const integrity = (db.pragma('integrity_check') as { integrity_check: string }[])
      .map((r) => r.integrity_check)
      .join('; ');
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all() as { name: string }[];
    const rowCounts: Record<string, number> = {};
    for (const { name } of tables) {
      rowCounts[name] = (
        db.prepare(`SELECT count(*) AS n FROM "${name.replaceAll('"', '""')}"`).get() as { n: number }
      ).n;
    }
    const version = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
    return { integrity, rowCounts, version };
  } finally {
    db.close();
  }
}

/**
 * Online backup of a live SQLite database (writers keep writing; WAL mode) with SQLite's backup
 * API into a temporary file beside nothing else, `integrity_check` on the copy, then a streamed,
 * hashed upload. The copy passing integrity_check is the proof it restores: the manifest is
 * written verified.
 */
export async function backupSqlite(
  req: BackupRequest & { path: string; scratchDir: string },
  deps: DataDeps,
): Promise<BackupManifest> {
  const started = deps.clock.now();
  if (!existsSync(req.path))
    throw new BackupFailedError(`SQLite database ${req.database} not found at ${req.path}`);
  const copy = join(req.scratchDir, `switchback-${req.backupId}-${randomBytes(4).toString('hex')}.sqlite`);
  const objectKey = objectKeyOf(deps.environment, 'sqlite', req.database, req.backupId);
  try {
    const source = new Database(req.path, { fileMustExist: true });
    try {
      // All pages in one step (one read transaction; in WAL mode writers are not blocked). Copied
      // in small steps, as by default, the backup restarts whenever another process commits, so
      // under a steady writer a large database never finishes copying.
      await source.backup(copy, { progress: () => ALL_PAGES });
    } finally {
      source.close();
    }
    const { integrity, rowCounts, version } = inspectSqlite(copy);
    if (integrity !== 'ok')
      throw new BackupFailedError(`integrity_check on the copy of ${req.database}: ${integrity}`);
    const meter = new Sha256Meter();
    const reading = pipeline(createReadStream(copy), meter).catch((err: Error) => err);
    await deps.objects.upload(objectKey, meter, 'application/vnd.sqlite3');
    const readError = await reading;
    if (readError instanceof Error)
      throw new BackupFailedError(`Reading the copy failed: ${readError.message}`);
    const sha256 = meter.digest();
    await deps.objects.setTags(objectKey, {
      'switchback:sha256': sha256,
      'switchback:verified': 'true',
      'switchback:expirable': 'true',
    });
    const at = deps.clock.now();
    const manifest: BackupManifest = {
      schemaVersion: 1,
      backupId: req.backupId,
      environment: deps.environment,
      store: 'sqlite',
      database: req.database,
      objectKey,
      format: 'sqlite-database',
      serverVersion: `SQLite ${version}`,
      sizeBytes: meter.bytes,
      sha256,
      rowCounts,
      purpose: req.purpose,
      reason: req.reason,
      executionId: req.executionId,
      takenAt: started.toISOString(),
      durationMs: at.getTime() - started.getTime(),
      verification: {
        status: 'passed',
        method: 'integrity_check',
        at: at.toISOString(),
        detail: `online backup copy passed integrity_check; ${Object.keys(rowCounts).length} tables`,
      },
    };
    await writeManifest(deps.blobs, manifest);
    deps.log.info('sqlite backup written', { backupId: req.backupId, bytes: meter.bytes });
    return manifest;
  } finally {
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${copy}${suffix}`, { force: true });
  }
}

/**
 * Restores a verified SQLite backup over `path`: download beside the target (same filesystem),
 * checksum, integrity_check and row counts on the download, then an atomic rename. The target's
 * WAL is checkpointed and its -wal/-shm removed first, so the new file cannot inherit old pages.
 * Writers must be stopped (the procedure does that).
 */
export async function restoreSqlite(manifest: BackupManifest, path: string, deps: DataDeps) {
  const staged = join(dirname(path), `.${manifest.backupId}.restore-${randomBytes(4).toString('hex')}`);
  try {
    let source: NodeJS.ReadableStream;
    try {
      source = await deps.objects.download(manifest.objectKey);
    } catch (err) {
      if (err instanceof BackupNotFoundError) throw err;
      throw new RestoreFailedError(`Download of ${manifest.backupId} failed: ${(err as Error).message}`);
    }
    const meter = new Sha256Meter();
    await pipeline(source, meter, createWriteStream(staged));
    if (meter.digest() !== manifest.sha256 || meter.bytes !== manifest.sizeBytes) {
      throw new BackupChecksumMismatchError(
        `Backup ${manifest.backupId}: stored object hashes to ${meter.digest().slice(0, 12)}... (${meter.bytes} bytes), manifest says ${manifest.sha256.slice(0, 12)}... (${manifest.sizeBytes} bytes)`,
      );
    }
    const check = inspectSqlite(staged);
    if (check.integrity !== 'ok')
      throw new RestoreFailedError(`integrity_check on ${manifest.backupId}: ${check.integrity}`);
    const diff = Object.keys({ ...manifest.rowCounts, ...check.rowCounts }).filter(
      (t) => manifest.rowCounts[t] !== check.rowCounts[t],
    );
    if (diff.length)
      throw new RestoreFailedError(
        `Row counts of ${manifest.backupId} differ from its manifest: ${diff.join(', ')}`,
      );

    if (existsSync(path)) {
      const target = new Database(path, { fileMustExist: true });
      try {
        target.pragma('wal_checkpoint(TRUNCATE)');
      } finally {
        target.close();
      }
    }
    for (const suffix of ['-wal', '-shm', '-journal']) {
      rmSync(`${path}${suffix}`, { force: true });
      rmSync(`${staged}${suffix}`, { force: true });
    }
    renameSync(staged, path);
    deps.log.info('sqlite restore swapped in', { backupId: manifest.backupId, path });
    return { backupId: manifest.backupId, database: manifest.database, rowCounts: check.rowCounts };
  } finally {
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${staged}${suffix}`, { force: true });
  }
}

/** Integrity and row counts of the live database after a restore. */
export function liveSqlite(path: string) {
  return inspectSqlite(path);
}
