import { z } from 'zod';
import { parseOrThrow } from '../shared/config';
import { ConfigurationError, InvalidInputError } from '../shared/errors';
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

/** A journal entry id as `switchback history` prints it: `<at>#<source>#<source event id>`. */
const EntryId = z
  .string()
  .regex(/^\d{4}-\d\d-\d\dT[\d:.]+Z#(aws\.ecs|aws\.ssm|switchback)#[A-Za-z0-9_.:/#-]{1,200}$/, {
    message: 'a journal entry id as `switchback history` prints it (<time>#<source>#<event id>)',
  });

const Common = {
  reason: Reason,
  requestedBy: RequestedBy.optional(),
  /** Roll back the targets this journal entry changed (the router passes its culprit here). */
  changeId: EntryId.optional(),
  /** Roll back every target changed at or after this time. */
  since: z.iso.datetime({ offset: true }).optional(),
  /** Change nothing: report exactly what would change, from what to what. */
  plan: z.boolean().default(false),
  /** Skip the preflight health checks of the services before the rollback (a broken service). */
  emergency: z.boolean().default(false),
  /** Set when the rollback router runs this rollback: its lock is inherited, by delegation. */
  parentExecutionId: ParentExecutionId.optional(),
  trigger: RollbackTrigger.optional(),
};

/** Execution input of `code-rollback`. Unknown fields are refused: a typo must not be ignored. */
export const CodeRollbackInput = z.strictObject({
  ...Common,
  /** The protected services to put back on their last known good task definitions. */
  services: z
    .array(z.enum(['api', 'sidecar']))
    .min(1)
    .optional(),
});

/** Execution input of `config-rollback`. */
export const ConfigRollbackInput = z.strictObject({
  ...Common,
  /** Watched parameters by key (`mem0/AUTONOMOUS_MODE`) to put back on their last known good values. */
  parameters: z.array(z.string().min(1)).min(1).optional(),
});

const Input = z.object({
  procedure: z.enum(['code-rollback', 'config-rollback']),
  executionId: z.string().min(1),
  executionName: z.string().min(1),
  input: z.unknown(),
});

/** What to roll back: exactly one of a journal entry, a time, explicit targets, or (all null) everything changed since its LKG. */
export interface Selection {
  readonly changeId: string | null;
  readonly since: string | null;
  readonly targets: readonly string[] | null;
}

/** The normalised request every later state reads as `$.request`. */
export interface RollbackRequest {
  readonly procedure: 'code-rollback' | 'config-rollback';
  readonly kind: 'code' | 'config';
  readonly environment: string;
  readonly reason: string;
  readonly requestedBy: string;
  readonly select: Selection;
  /** What the lock item records as the change: the selected journal entry, or this execution's name. */
  readonly changeId: string;
  readonly plan: boolean;
  readonly emergency: boolean;
  readonly trigger: { readonly source: string; readonly error: string | null; readonly cause: string | null };
  readonly lock: { readonly owner: string; readonly inherited: boolean };
  readonly timing: { readonly stabilityPollSeconds: number; readonly stabilityMaxAttempts: number };
  readonly marker: string;
}

/**
 * First state of `code-rollback` and `config-rollback`: parses the execution input (unknown
 * fields, two selections at once, unknown parameters or a stage without a journal are refused
 * before any side effect) and returns the request the rest of the state machine reads.
 */
export const rollbackInput = defineStep({
  name: 'rollback-input',
  input: Input,
  async run(event, { config, clock }): Promise<RollbackRequest> {
    const code = event.procedure === 'code-rollback';
    const raw = withoutStartedBy(event.input);
    const input = code
      ? parseOrThrow(CodeRollbackInput, raw, InvalidInputError, `${event.procedure} input`)
      : parseOrThrow(ConfigRollbackInput, raw, InvalidInputError, `${event.procedure} input`);
    const targets =
      'services' in input ? input.services : 'parameters' in input ? input.parameters : undefined;
    const given = [
      input.changeId !== undefined && 'changeId',
      input.since !== undefined && 'since',
      targets !== undefined && (code ? 'services' : 'parameters'),
    ].filter(Boolean);
    if (given.length > 1) {
      throw new InvalidInputError(
        `${event.procedure} input: give at most one of changeId, since and ${code ? 'services' : 'parameters'} (got ${given.join(' and ')}). Nothing was changed.`,
      );
    }
    if (!config.journal) {
      throw new ConfigurationError(
        `${event.procedure} needs the change journal, and environment ${config.environment} has none configured (the stage's journal section)`,
      );
    }
    if (!code && targets) {
      const unknown = targets.filter((k) => !Object.hasOwn(config.journal?.watched ?? {}, k));
      if (unknown.length) {
        throw new InvalidInputError(
          `${event.procedure} input: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not watched in ${config.environment} (watched: ${Object.keys(config.journal.watched).join(', ')}). Nothing was changed.`,
        );
      }
    }
    if (input.since && Date.parse(input.since) > clock.now().getTime()) {
      throw new InvalidInputError(
        `${event.procedure} input: since ${input.since} is in the future. Nothing was changed.`,
      );
    }
    return {
      procedure: event.procedure,
      kind: code ? 'code' : 'config',
      environment: config.environment,
      reason: input.reason,
      requestedBy: input.requestedBy ?? 'unknown',
      select: {
        changeId: input.changeId ?? null,
        since: input.since ? new Date(input.since).toISOString() : null,
        targets: targets ? [...new Set(targets)] : null,
      },
      changeId: input.changeId ?? event.executionName,
      plan: input.plan,
      emergency: input.emergency,
      trigger: requestTrigger(input.trigger),
      lock: requestLock(input.parentExecutionId, event.executionId),
      timing: requestTiming(config.timing),
      marker: smokeMarker(event.executionName),
    };
  },
});
