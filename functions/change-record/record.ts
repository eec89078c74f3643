import { z } from 'zod';
import { parseOrThrow } from '../shared/config';
import { ChangeRecordInvalidError, ChangeRecordNotFoundError } from '../shared/errors';
import { FlagNameSchema } from '../shared/flags';
import type { BlobStore } from '../shared/ports';

const FlagSnapshot = z.object({ value: z.string(), version: z.number().int() });

/**
 * The change record: written before a cutover touches anything, read by every rollback.
 * It is the durable source of truth for "what to put back", so that a rollback started by an
 * alarm, an operator or a drill can undo a change it did not make, and can be re-run safely.
 */
export const ChangeRecord = z.object({
  schemaVersion: z.literal(1),
  changeId: z.string(),
  environment: z.string(),
  procedure: z.string(),
  executionId: z.string(),
  reason: z.string(),
  requestedBy: z.string(),
  openedAt: z.iso.datetime(),
  /** Value and SSM version of every flag the change touches, before it touched them. */
  previous: z.partialRecord(FlagNameSchema, FlagSnapshot),
  /** Values the change sets. */
  target: z.partialRecord(FlagNameSchema, z.string()),
  services: z.object({ api: z.object({ taskDefinition: z.string() }) }),
  /** Verified backups taken before the change: ids, checksums and where they are. */
  backups: z.array(
    z.object({
      id: z.string(),
      sha256: z.string(),
      store: z.enum(['postgres', 'sqlite']).optional(),
      database: z.string().optional(),
      objectKey: z.string().optional(),
    }),
  ),
  status: z.enum(['open', 'completed', 'rolled-back']),
  events: z.array(z.object({ at: z.iso.datetime(), status: z.string(), executionId: z.string() })),
});
export type ChangeRecord = z.infer<typeof ChangeRecord>;

export function recordKey(prefix: string, changeId: string): string {
  return `${prefix.replace(/\/+$/, '')}/${changeId}.json`;
}

export async function readRecord(blobs: BlobStore, key: string): Promise<ChangeRecord | undefined> {
  const body = await blobs.get(key);
  if (!body) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch (err) {
    throw new ChangeRecordInvalidError(`Change record ${key} is not valid JSON`, { cause: err });
  }
  return parseOrThrow(ChangeRecord, json, ChangeRecordInvalidError, `change record ${key}`);
}

export async function writeRecord(blobs: BlobStore, key: string, record: ChangeRecord): Promise<void> {
  await blobs.put(key, `${JSON.stringify(record, null, 2)}\n`, 'application/json');
}

/** The newest record of a procedure, by the time it was opened. */
export async function latestRecord(
  blobs: BlobStore,
  prefix: string,
  procedure: string,
): Promise<ChangeRecord | undefined> {
  const keys = (await blobs.list(`${prefix.replace(/\/+$/, '')}/`)).filter((k) => k.endsWith('.json'));
  let latest: ChangeRecord | undefined;
  for (const key of keys) {
    const record = await readRecord(blobs, key);
    // As instants: ISO strings of different precision ("…00Z", "…00.5Z") do not sort as text.
    if (
      record?.procedure === procedure &&
      (!latest || Date.parse(record.openedAt) > Date.parse(latest.openedAt))
    )
      latest = record;
  }
  return latest;
}

export async function requireRecord(
  blobs: BlobStore,
  prefix: string,
  changeId: string,
): Promise<ChangeRecord> {
  const record = await readRecord(blobs, recordKey(prefix, changeId));
  if (!record) throw new ChangeRecordNotFoundError(`No change record "${changeId}" under ${prefix}`);
  return record;
}
