import type { z as Z } from 'zod';
import { z } from 'zod';
import {
  BackupId,
  DatabaseName,
  isVerified,
  listBackups,
  manifestKeyOf,
  resolveBackup,
  Store,
} from '../../tasks/data/manifest';
import { summary } from '../../tasks/data/task';
import { journalOwn } from '../shared/journal';
import { type Deps, defineStep } from '../shared/step';

const Resolve = z.strictObject({
  action: z.literal('resolve'),
  store: Store,
  database: DatabaseName,
  backupId: z.union([z.literal('latest-verified'), BackupId]),
});
const List = z.strictObject({
  action: z.literal('list'),
  store: Store,
  database: DatabaseName,
  limit: z.number().int().min(1).max(1000).default(50),
});
const Retain = z.strictObject({ action: z.literal('retain'), store: Store, database: DatabaseName });
const Input = z.discriminatedUnion('action', [Resolve, List, Retain]);

/**
 * The backup catalog: resolve the backup a restore will use (named, or the newest verified one;
 * unverified ones are refused), list backups newest first, and keep the retention tags right.
 *
 * Retention: the bucket's lifecycle rule expires backups tagged `switchback:expirable=true` after
 * the configured days. `retain` tags the newest verified backup `false` and every other `true`, so
 * the lifecycle can never delete the newest verified backup, however old it gets.
 */
export const backupCatalog = defineStep({
  name: 'backup-catalog',
  input: Input,
  async run(input, deps) {
    switch (input.action) {
      case 'resolve':
        return summary(
          await resolveBackup(
            deps.blobs,
            deps.config.environment,
            input.store,
            input.database,
            input.backupId,
          ),
        );
      case 'list':
        return (await listBackups(deps.blobs, deps.config.environment, input.store, input.database))
          .slice(0, input.limit)
          .map((m) => ({
            backupId: m.backupId,
            takenAt: m.takenAt,
            verified: isVerified(m),
            purpose: m.purpose,
            sizeBytes: m.sizeBytes,
            sha256: m.sha256,
          }));
      case 'retain':
        return retain(input, deps);
    }
  },
});

async function retain(input: Z.infer<typeof Retain>, deps: Deps) {
  const { blobs, objects, config } = deps;
  const all = await listBackups(blobs, config.environment, input.store, input.database);
  const keep = all.find(isVerified);
  // The newest verified backup is a restore point in the change journal (once: keyed by its id).
  if (keep) {
    await journalOwn(deps, {
      at: keep.takenAt,
      sourceEventId: `backup:${keep.backupId}`,
      kind: 'data',
      subject: `backup:${keep.store}/${keep.database}`,
      actor: null,
      change: {
        type: 'backup',
        store: keep.store,
        database: keep.database,
        backupId: keep.backupId,
        objectKey: keep.objectKey,
      },
    });
  }
  for (const m of all) {
    // The manifest expires with its backup, so the catalog never lists a backup that is gone.
    const tag = { 'switchback:expirable': m === keep ? 'false' : 'true' };
    await objects.setTags(m.objectKey, tag);
    await objects.setTags(manifestKeyOf(m.objectKey), tag);
  }
  return {
    protected: keep?.backupId ?? null,
    expirable: all.filter((m) => m !== keep).map((m) => m.backupId),
  };
}
