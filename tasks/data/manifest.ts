import { z } from 'zod';
import { parseOrThrow } from '../../functions/shared/config';
import {
  BackupNotFoundError,
  BackupNotVerifiedError,
  BackupVerificationError,
} from '../../functions/shared/errors';
import type { BlobStore } from '../../functions/shared/ports';

export const Store = z.enum(['postgres', 'sqlite']);
export type Store = z.infer<typeof Store>;

export const BackupId = z.string().regex(/^[A-Za-z0-9_.-]{1,120}$/, 'letters, digits, ".", "-" and "_" only');
export const DatabaseName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,62}$/, 'a plain database name');

/**
 * What a backup is, written beside it: enough to restore it, check it and judge it without
 * opening it. A backup counts as verified only when `verification.status` is `passed`.
 */
export const BackupManifest = z.object({
  schemaVersion: z.literal(1),
  backupId: BackupId,
  environment: z.string(),
  store: Store,
  database: DatabaseName,
  objectKey: z.string(),
  format: z.enum(['pg_dump-custom', 'sqlite-database']),
  serverVersion: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Rows per table at the moment of the backup (one snapshot with the dump itself). */
  rowCounts: z.record(z.string(), z.number().int().nonnegative()),
  purpose: z.enum(['manual', 'scheduled', 'pre-change', 'safety']),
  reason: z.string(),
  executionId: z.string(),
  takenAt: z.iso.datetime(),
  durationMs: z.number().nonnegative(),
  verification: z
    .object({
      status: z.enum(['passed', 'failed']),
      method: z.enum(['pg_restore-scratch', 'integrity_check']),
      at: z.iso.datetime(),
      detail: z.string(),
    })
    .nullable(),
});
export type BackupManifest = z.infer<typeof BackupManifest>;

/** `backups/<env>/<store>/<database>/` */
export function backupPrefix(environment: string, store: Store, database: string): string {
  return `backups/${environment}/${store}/${database}/`;
}

export function objectKeyOf(environment: string, store: Store, database: string, backupId: string): string {
  return `${backupPrefix(environment, store, database)}${backupId}.${store === 'postgres' ? 'dump' : 'sqlite'}`;
}

export function manifestKeyOf(objectKey: string): string {
  return `${objectKey}.manifest.json`;
}

export async function writeManifest(blobs: BlobStore, manifest: BackupManifest): Promise<void> {
  await blobs.put(
    manifestKeyOf(manifest.objectKey),
    `${JSON.stringify(manifest, null, 2)}\n`,
    'application/json',
  );
}

export async function readManifest(blobs: BlobStore, key: string): Promise<BackupManifest | undefined> {
  const body = await blobs.get(key);
  if (!body) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new BackupVerificationError(`Manifest ${key} is not valid JSON`);
  }
  return parseOrThrow(BackupManifest, json, BackupVerificationError, `backup manifest ${key}`);
}

/** Every backup of one database, newest first, verified or not. Unreadable manifests are skipped. */
export async function listBackups(
  blobs: BlobStore,
  environment: string,
  store: Store,
  database: string,
): Promise<BackupManifest[]> {
  const keys = (await blobs.list(backupPrefix(environment, store, database))).filter((k) =>
    k.endsWith('.manifest.json'),
  );
  const manifests: BackupManifest[] = [];
  for (const key of keys) {
    const m = await readManifest(blobs, key).catch(() => undefined);
    if (m) manifests.push(m);
  }
  return manifests.sort((a, b) => Date.parse(b.takenAt) - Date.parse(a.takenAt));
}

export function isVerified(m: BackupManifest): boolean {
  return m.verification?.status === 'passed';
}

/**
 * The backup a restore should use: the named one, or the newest verified one. A named backup that
 * is not verified is refused: a restore never uses something not proven restorable.
 */
export async function resolveBackup(
  blobs: BlobStore,
  environment: string,
  store: Store,
  database: string,
  backupId: string | 'latest-verified',
): Promise<BackupManifest> {
  const all = await listBackups(blobs, environment, store, database);
  if (backupId === 'latest-verified') {
    const latest = all.find(isVerified);
    if (!latest)
      throw new BackupNotFoundError(`No verified ${store} backup of ${database} in ${environment}`);
    return latest;
  }
  const named = await readManifest(blobs, manifestKeyOf(objectKeyOf(environment, store, database, backupId)));
  if (!named)
    throw new BackupNotFoundError(`No ${store} backup "${backupId}" of ${database} in ${environment}`);
  if (!isVerified(named)) {
    throw new BackupNotVerifiedError(
      `Backup "${backupId}" of ${database} is not verified (${named.verification?.detail ?? 'never verified'}); refusing to restore it`,
    );
  }
  return named;
}
