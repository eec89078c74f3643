import { z } from 'zod';
import { BackupId, DatabaseName, Store } from '../../tasks/data/manifest';
import { parseOrThrow } from '../shared/config';
import { InvalidInputError } from '../shared/errors';
import { Reason, RequestedBy, STARTED_BY_KEY } from '../shared/inputs';
import { defineStep } from '../shared/step';

/** Execution input of `backup`. */
export const BackupInput = z.strictObject({
  store: Store,
  database: DatabaseName,
  reason: Reason,
  requestedBy: RequestedBy.optional(),
  purpose: z.enum(['manual', 'scheduled', 'pre-change']).default('manual'),
  [STARTED_BY_KEY]: z.string().optional(),
});

/** Execution input of `restore-postgres` and `restore-sqlite`. */
export const RestoreInput = z.strictObject({
  database: DatabaseName,
  /** A backup id, or the newest verified backup. */
  backupId: z.union([z.literal('latest-verified'), BackupId]).default('latest-verified'),
  reason: Reason,
  requestedBy: RequestedBy.optional(),
});

const Input = z.object({
  procedure: z.enum(['backup', 'restore-postgres', 'restore-sqlite']),
  executionId: z.string().min(1),
  executionName: z.string().min(1),
  input: z.unknown(),
});

/** Ids derived from the execution name: a re-run of the same execution name reuses them (idempotent). */
function idOf(executionName: string): string {
  return executionName.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 100);
}

/**
 * First state of the backup and restore procedures: parses the input, checks the database is one
 * this environment is configured to back up, and derives every id and result key the procedure
 * uses, before any side effect.
 */
export const validateDataInput = defineStep({
  name: 'validate-data-input',
  input: Input,
  async run(event, { config }) {
    const data = config.data;
    const id = idOf(event.executionName);
    const known = (store: 'postgres' | 'sqlite', database: string) => {
      const configured =
        store === 'postgres' ? data?.postgres.databases : Object.keys(data?.sqlite.databases ?? {});
      if (!configured?.includes(database)) {
        throw new InvalidInputError(
          `Invalid ${event.procedure} input: database: "${database}" is not a configured ${store} database of ${config.environment} (configured: ${configured?.join(', ') || 'none'})`,
        );
      }
    };
    const common = {
      procedure: event.procedure,
      environment: config.environment,
      network: data?.network ?? null,
      executionId: event.executionId,
    };
    if (event.procedure === 'backup') {
      const input = parseOrThrow(BackupInput, event.input, InvalidInputError, 'backup input');
      known(input.store, input.database);
      return {
        ...common,
        store: input.store,
        database: input.database,
        backupId: id,
        purpose: input.purpose,
        reason: input.reason,
        requestedBy: input.requestedBy ?? 'unknown',
        resultKeys: { backup: `${id}/backup`, verify: `${id}/verify` },
      };
    }
    const store = event.procedure === 'restore-postgres' ? 'postgres' : 'sqlite';
    const input = parseOrThrow(RestoreInput, event.input, InvalidInputError, `${event.procedure} input`);
    known(store, input.database);
    return {
      ...common,
      store,
      database: input.database,
      backupId: input.backupId,
      safetyBackupId: `${id}-safety`,
      reason: input.reason,
      requestedBy: input.requestedBy ?? 'unknown',
      writers: data?.writers ?? [],
      lock: { owner: event.executionId, inherited: false },
      timing: {
        stabilityPollSeconds: config.timing.stabilityPollSeconds,
        stabilityMaxAttempts: config.timing.stabilityMaxAttempts,
      },
      marker: `switchback-restore-${id.slice(0, 80)}`,
      resultKeys: {
        check: `${id}/check`,
        safety: `${id}/safety`,
        verifySafety: `${id}/verify-safety`,
        restore: `${id}/restore`,
        inspect: `${id}/inspect`,
        putBack: `${id}/put-back`,
      },
    };
  },
});
