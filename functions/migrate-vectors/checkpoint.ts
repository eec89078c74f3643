import { z } from 'zod';
import { parseOrThrow } from '../shared/config';
import { cutoverPrefix, type DatabaseRuntimeConfig } from '../shared/database-config';
import { CheckpointInvalidError } from '../shared/errors';
import type { BlobStore } from '../shared/ports';

const PointIdSchema = z.union([z.number().int().min(0), z.string().min(1)]);
const Tally = z.record(z.string(), z.number().int().min(0));

/**
 * The migration's durable cursor and counters, one object per cutover in the backup bucket. It is
 * written only after a batch has committed, so after a crash the batch after it is read and
 * written again; the upsert makes that harmless (a point is never counted or stored twice).
 */
export const Checkpoint = z.object({
  schemaVersion: z.literal(1),
  changeId: z.string(),
  collection: z.string(),
  table: z.string(),
  /** Target column dimension the points were checked against. */
  dimension: z.number().int().min(1),
  /** Qdrant's `next_page_offset` to read from next; null before the first page and when done. */
  cursor: PointIdSchema.nullable(),
  done: z.boolean(),
  pages: z.number().int().min(0),
  invocations: z.number().int().min(0),
  counts: z.object({
    /** Points read from the source. */
    total: z.number().int().min(0),
    succeeded: z.number().int().min(0),
    failed: z.number().int().min(0),
    skipped: z.number().int().min(0),
    /** Rows the upsert inserted or changed (a re-run of identical points writes none). */
    written: z.number().int().min(0),
  }),
  /** Failed and skipped points by reason. */
  failures: Tally,
  skips: Tally,
  /** The first failed or skipped points, with their reasons (evidence for the report). */
  samples: z
    .array(z.object({ id: PointIdSchema, reason: z.string(), kind: z.enum(['failed', 'skipped']) }))
    .max(50),
  startedAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
  /** Time spent inside migration invocations (excludes the state machine's own overhead). */
  activeSeconds: z.number().min(0),
});
export type Checkpoint = z.infer<typeof Checkpoint>;

export function checkpointKey(db: DatabaseRuntimeConfig, environment: string, changeId: string): string {
  return `${cutoverPrefix(db, environment, changeId)}/migration-checkpoint.json`;
}

export async function readCheckpoint(blobs: BlobStore, key: string): Promise<Checkpoint | undefined> {
  const body = await blobs.get(key);
  if (!body) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch (err) {
    throw new CheckpointInvalidError(`Migration checkpoint ${key} is not valid JSON`, { cause: err });
  }
  return parseOrThrow(Checkpoint, json, CheckpointInvalidError, `migration checkpoint ${key}`);
}

export async function writeCheckpoint(blobs: BlobStore, key: string, checkpoint: Checkpoint): Promise<void> {
  await blobs.put(key, `${JSON.stringify(checkpoint)}\n`, 'application/json');
}

/** What the step returns and the gates read: the counters, never the points. */
export function summarize(cp: Checkpoint) {
  const considered = cp.counts.total - cp.counts.skipped;
  const end = cp.finishedAt ?? cp.updatedAt;
  return {
    done: cp.done,
    /** The cursor as text (Qdrant ids are integers or UUIDs), for the execution history. */
    cursor: cp.cursor === null ? null : String(cp.cursor),
    pages: cp.pages,
    invocations: cp.invocations,
    counts: cp.counts,
    failures: cp.failures,
    skips: cp.skips,
    successRate: considered === 0 ? 1 : cp.counts.succeeded / considered,
    startedAt: cp.startedAt,
    finishedAt: cp.finishedAt,
    durationSeconds: (Date.parse(end) - Date.parse(cp.startedAt)) / 1000,
    activeSeconds: cp.activeSeconds,
  };
}
export type MigrationSummary = ReturnType<typeof summarize>;
