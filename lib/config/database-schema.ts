import type { z } from 'zod';
import { DatabaseRuntimeConfig } from '../../functions/shared/database-config';

/**
 * The stage's `database` section (seed 002's database cutover): the runtime section every
 * database step receives, validated at synth with what only the stage can know. See
 * `functions/shared/database-config.ts` for each field and its default.
 */
export const DatabaseStageConfig = DatabaseRuntimeConfig;
export type DatabaseStageConfig = z.infer<typeof DatabaseStageConfig>;

interface StageShape {
  readonly database?: DatabaseStageConfig;
  readonly data?: { readonly postgres?: { readonly databases?: readonly string[] } };
}

/**
 * Cross-field checks, each naming its field: both connections configured and different, the
 * backups taken by the data task (so it must know the database), a migration budget inside the
 * Lambda limit, a recall floor below the target.
 */
export function checkDatabase(stage: StageShape, ctx: z.RefinementCtx): void {
  const db = stage.database;
  if (!db) return;
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: 'custom', path: ['database', ...path], message });
  for (const [path, name] of [
    [['source', 'connection'], db.source.connection],
    [['target', 'connection'], db.target.connection],
  ] as const) {
    if (!(name in db.connections))
      issue(
        [...path],
        `"${name}" is not in database.connections (${Object.keys(db.connections).join(', ')})`,
      );
  }
  if (db.source.connection === db.target.connection)
    issue(['target', 'connection'], 'must differ from source.connection');
  if (db.backups.length === 0)
    issue(['backups'], 'name the target database (a data.postgres database): seed 002 backs it up first');
  const known = stage.data?.postgres?.databases ?? [];
  db.backups.forEach((name, i) => {
    if (!known.includes(name)) issue(['backups', i], `"${name}" is not in data.postgres.databases`);
  });
  if (db.migration.timeBudgetSeconds > 780)
    issue(['migration', 'timeBudgetSeconds'], 'must leave room inside the 900 s Lambda limit (at most 780)');
  if (db.gates.recallFloor > db.gates.recallTarget)
    issue(['gates', 'recallFloor'], `must not exceed gates.recallTarget (${db.gates.recallTarget})`);
}
