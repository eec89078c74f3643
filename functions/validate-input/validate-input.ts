import { z } from 'zod';
import { parseOrThrow } from '../shared/config';
import { InvalidInputError } from '../shared/errors';
import {
  ParentExecutionId,
  Reason,
  RequestedBy,
  RollbackTrigger,
  requestLock,
  requestTiming,
  requestTrigger,
  smokeMarker,
  withoutStartedBy,
} from '../shared/inputs';
import { defineStep } from '../shared/step';

const ChangeId = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'letters, digits, "-" and "_" only, at most 80');

/** Execution input of `provider-cutover`. Unknown fields are refused: a typo must not be ignored. */
export const ProviderCutoverInput = z.strictObject({
  reason: Reason,
  requestedBy: RequestedBy.optional(),
  /** Sidecar base URL the API should use; defaults to the environment's configured sidecar URL. */
  httpBase: z.url({ protocol: /^https?$/ }).optional(),
});

/** Execution input of `provider-rollback`. */
export const ProviderRollbackInput = z.strictObject({
  reason: Reason,
  requestedBy: RequestedBy.optional(),
  /** The change to undo; defaults to the environment's most recent provider cutover. */
  changeId: ChangeId.optional(),
  /** Skip preflight (flag drift check): seed 000's emergency rollback. */
  emergency: z.boolean().default(false),
  /** Set when a cutover runs this rollback: the lock it holds is inherited, not taken. */
  parentExecutionId: ParentExecutionId.optional(),
  trigger: RollbackTrigger.optional(),
});

const Input = z.object({
  procedure: z.enum(['provider-cutover', 'provider-rollback']),
  executionId: z.string().min(1),
  executionName: z.string().min(1),
  input: z.unknown(),
});

/** The normalised request every later state reads as `$.request`. */
export interface Request {
  readonly procedure: 'provider-cutover' | 'provider-rollback';
  readonly environment: string;
  readonly reason: string;
  readonly requestedBy: string;
  /** Cutover: its own id (the execution name). Rollback: the change to undo, or null for the latest. */
  readonly changeId: string | null;
  readonly httpBase: string | null;
  readonly emergency: boolean;
  readonly trigger: { readonly source: string; readonly error: string | null; readonly cause: string | null };
  readonly lock: { readonly owner: string; readonly inherited: boolean };
  readonly timing: { readonly stabilityPollSeconds: number; readonly stabilityMaxAttempts: number };
  readonly marker: string;
  /** Cutover: the data stores backed up (and verified) before anything changes (seed 000). */
  readonly backups: readonly {
    readonly store: 'postgres' | 'sqlite';
    readonly database: string;
    readonly reason: string;
  }[];
}

/**
 * First state of every procedure: parses the execution input and returns the normalised request
 * the rest of the state machine reads. A malformed input ends the execution here, before any
 * side effect, with InvalidInputError naming each bad field.
 */
export const validateInput = defineStep({
  name: 'validate-input',
  input: Input,
  async run(event, { config }): Promise<Request> {
    const base = {
      procedure: event.procedure,
      environment: config.environment,
      timing: requestTiming(config.timing),
      marker: smokeMarker(event.executionName),
    };
    if (event.procedure === 'provider-cutover') {
      // The cutover's execution name is its change id: refuse it here, before the lock is taken.
      parseOrThrow(
        z.object({ executionName: ChangeId }),
        { executionName: event.executionName },
        InvalidInputError,
        'provider-cutover execution name',
      );
      const input = parseOrThrow(
        ProviderCutoverInput,
        event.input,
        InvalidInputError,
        'provider-cutover input',
      );
      // The cutover will call this URL (health, smoke tests) and point the API at it: only the
      // stage's own sidecar origin is accepted, never an arbitrary, link-local or metadata address.
      const httpBase = input.httpBase ?? config.endpoints.sidecar;
      const allowed = new URL(config.endpoints.sidecar).origin;
      if (new URL(httpBase).origin !== allowed) {
        throw new InvalidInputError(
          `provider-cutover input: httpBase ${new URL(httpBase).origin} is not the stage's sidecar (${allowed}); a cutover only calls the configured sidecar. Nothing was changed.`,
        );
      }
      return {
        ...base,
        reason: input.reason,
        requestedBy: input.requestedBy ?? 'unknown',
        changeId: event.executionName,
        httpBase,
        emergency: false,
        trigger: { source: 'operator', error: null, cause: null },
        lock: { owner: event.executionId, inherited: false },
        backups: [
          ...(config.data?.postgres.databases ?? []).map((database) => ({
            store: 'postgres' as const,
            database,
          })),
          ...Object.keys(config.data?.sqlite.databases ?? {}).map((database) => ({
            store: 'sqlite' as const,
            database,
          })),
        ].map((b) => ({ ...b, reason: `Before provider cutover ${event.executionName}` })),
      };
    }
    const input = parseOrThrow(
      ProviderRollbackInput,
      withoutStartedBy(event.input),
      InvalidInputError,
      'provider-rollback input',
    );
    return {
      ...base,
      reason: input.reason,
      requestedBy: input.requestedBy ?? 'unknown',
      changeId: input.changeId ?? null,
      httpBase: null,
      emergency: input.emergency,
      trigger: requestTrigger(input.trigger),
      lock: requestLock(input.parentExecutionId, event.executionId),
      backups: [],
    };
  },
});
