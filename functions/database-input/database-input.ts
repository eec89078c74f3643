import { z } from 'zod';
import { parseOrThrow } from '../shared/config';
import { connectionParameter, databaseConfigOf } from '../shared/database-config';
import { InvalidInputError } from '../shared/errors';
import { ParentExecutionId, Reason, RequestedBy, RollbackTrigger, STARTED_BY_KEY } from '../shared/inputs';
import { defineStep } from '../shared/step';

const ChangeId = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'letters, digits, "-" and "_" only, at most 80');

/** Execution input of `database-cutover`. Unknown fields are refused. */
export const DatabaseCutoverInput = z.strictObject({
  reason: Reason,
  /** Seed 002's sign-off "Lead". */
  requestedBy: RequestedBy.optional(),
});

/** Execution input of `database-rollback` (also what the cutover's Catch and the rollback router send). */
export const DatabaseRollbackInput = z.strictObject({
  reason: Reason,
  requestedBy: RequestedBy.optional(),
  /** The cutover to undo; defaults to the environment's most recent database cutover. */
  changeId: ChangeId.nullish(),
  /** Switch back even when `database/active` names neither side of the change (someone moved it since). */
  emergency: z.boolean().default(false),
  /** Set when a cutover or the rollback router runs this rollback: their lock is inherited, not taken. */
  parentExecutionId: ParentExecutionId.optional(),
  trigger: RollbackTrigger.optional(),
  [STARTED_BY_KEY]: z.string().optional(),
});

const Input = z.object({
  procedure: z.enum(['database-cutover', 'database-rollback']),
  executionId: z.string().min(1),
  executionName: z.string().min(1),
  input: z.unknown(),
});

/** What every later state of the database procedures reads as `$.request`. Names only, no secrets. */
export interface DatabaseRequest {
  readonly procedure: 'database-cutover' | 'database-rollback';
  readonly environment: string;
  /** Cutover: its own id (the execution name). Rollback: the change to undo, or null for the latest. */
  readonly changeId: string | null;
  readonly reason: string;
  readonly requestedBy: string;
  readonly emergency: boolean;
  readonly trigger: { readonly source: string; readonly error: string | null; readonly cause: string | null };
  readonly lock: { readonly owner: string; readonly inherited: boolean };
  /** Connection names (what `database/active` holds), never their URLs. */
  readonly source: { readonly connection: string };
  readonly target: { readonly connection: string };
  readonly timing: { readonly stabilityPollSeconds: number; readonly stabilityMaxAttempts: number };
  readonly monitoring: { readonly windowSeconds: number };
  /** Cutover: the databases backed up and proven restorable before the migration writes. */
  readonly backups: readonly {
    readonly store: 'postgres';
    readonly database: string;
    readonly reason: string;
  }[];
}

/**
 * First state of `database-cutover` and `database-rollback`: parses the execution input and the
 * environment's database configuration, before any side effect. A bad input, or an environment
 * without a database cutover configured, ends the execution here with a named error.
 */
export const databaseInput = defineStep({
  name: 'database-input',
  input: Input,
  async run(event, { config }): Promise<DatabaseRequest> {
    const db = databaseConfigOf(config);
    // Both connections must be configured: a typo in the stage config fails here, not mid-cutover.
    connectionParameter(db, db.source.connection);
    connectionParameter(db, db.target.connection);
    const base = {
      procedure: event.procedure,
      environment: config.environment,
      source: { connection: db.source.connection },
      target: { connection: db.target.connection },
      timing: {
        stabilityPollSeconds: config.timing.stabilityPollSeconds,
        stabilityMaxAttempts: config.timing.stabilityMaxAttempts,
      },
      monitoring: { windowSeconds: db.monitoringWindowSeconds },
    };
    if (event.procedure === 'database-cutover') {
      parseOrThrow(
        z.object({ executionName: ChangeId }),
        { executionName: event.executionName },
        InvalidInputError,
        'database-cutover execution name',
      );
      const input = parseOrThrow(
        DatabaseCutoverInput,
        event.input,
        InvalidInputError,
        'database-cutover input',
      );
      const unknown = db.backups.filter((d) => !config.data?.postgres.databases.includes(d));
      if (unknown.length) {
        throw new InvalidInputError(
          `database.backups names ${unknown.join(', ')}, not a configured PostgreSQL database of ${config.environment}`,
        );
      }
      return {
        ...base,
        changeId: event.executionName,
        reason: input.reason,
        requestedBy: input.requestedBy ?? 'unknown',
        emergency: false,
        trigger: { source: 'operator', error: null, cause: null },
        lock: { owner: event.executionId, inherited: false },
        backups: db.backups.map((database) => ({
          store: 'postgres' as const,
          database,
          reason: `Before database cutover ${event.executionName}`,
        })),
      };
    }
    const input = parseOrThrow(
      DatabaseRollbackInput,
      event.input,
      InvalidInputError,
      'database-rollback input',
    );
    return {
      ...base,
      changeId: input.changeId ?? null,
      reason: input.reason,
      requestedBy: input.requestedBy ?? 'unknown',
      emergency: input.emergency,
      trigger: {
        source: input.trigger?.source ?? 'operator',
        error: input.trigger?.error ?? null,
        cause: input.trigger?.cause ?? null,
      },
      lock: {
        owner: input.parentExecutionId ?? event.executionId,
        inherited: input.parentExecutionId !== undefined,
      },
      backups: [],
    };
  },
});
