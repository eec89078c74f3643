import { z } from 'zod';
import { parseOrThrow } from '../shared/config';
import { InvalidInputError } from '../shared/errors';
import { Reason, RequestedBy, withoutStartedBy } from '../shared/inputs';
import { ProjectId } from '../shared/memory-context';
import {
  ApprovalPolicy,
  evaluationsFor,
  GatePolicy,
  MAX_EVALUATIONS,
  MAX_TOTAL_SECONDS,
  PhaseSpec,
  type PlannedPhase,
  SEED_CANARY_PERCENTAGE,
  SEED_INTERNAL_PROJECTS,
  SEED_PHASE_NAMES,
  type SeedPhaseName,
  seedPhases,
} from '../shared/rollout-plan';
import { defineStep } from '../shared/step';

/** The rollout id is the execution name: it names the rollout log object, so it must be key-safe. */
const RolloutId = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'letters, digits, "-" and "_" only, at most 80');
const SeedPhase = z.enum(SEED_PHASE_NAMES);

/**
 * Execution input of `feature-rollout`. Without options it is seed 003's plan: flag off for 4 h,
 * internal users (`internal-test`) for 24 h, 10 % for 48 h, 100 % for 48 h, gate every 5 min.
 * `phases` replaces the whole plan; the other options adjust the seed's. Unknown fields are refused.
 */
export const FeatureRolloutInput = z
  .strictObject({
    reason: Reason,
    requestedBy: RequestedBy.optional(),
    /** Evaluate and log the gates on the seed's schedule without changing anything (no flag write, no lock). */
    dryRun: z.boolean().default(false),
    internalProjects: z
      .array(ProjectId)
      .min(1)
      .max(500)
      .refine((ids) => new Set(ids).size === ids.length, 'each project id may appear once')
      .optional(),
    canaryPercentage: z.number().int().min(1).max(99).optional(),
    /** Seed 003's phase 3 is optional ("skip to phase 4 if not applicable"). */
    skipPhases: z.array(SeedPhase).max(3).optional(),
    bakeSeconds: z.partialRecord(SeedPhase, PhaseSpec.shape.bakeSeconds).optional(),
    phases: z.array(PhaseSpec).min(1).max(8).optional(),
    gate: GatePolicy.partial().optional(),
    approval: ApprovalPolicy.partial().optional(),
    /** How long a phase check waits for the app to serve the new flag value. */
    checkWithinSeconds: z.number().int().min(1).max(60).default(60),
  })
  .superRefine((input, ctx) => {
    const shortcuts = (['internalProjects', 'canaryPercentage', 'skipPhases', 'bakeSeconds'] as const).filter(
      (k) => input[k] !== undefined,
    );
    if (input.phases && shortcuts.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['phases'],
        message: `give either phases or ${shortcuts.join(', ')}, not both`,
      });
    }
    if (input.phases && new Set(input.phases.map((p) => p.name)).size !== input.phases.length) {
      ctx.addIssue({ code: 'custom', path: ['phases'], message: 'each phase name may appear once' });
    }
    if (input.skipPhases && input.skipPhases.length >= SEED_PHASE_NAMES.length) {
      ctx.addIssue({ code: 'custom', path: ['skipPhases'], message: 'at least one phase must remain' });
    }
  });

/**
 * Execution input of `feature-disable`: from the console, the CLI, the alarm router, or a rollout's
 * Catch (which passes its rollout id and its own execution, whose lock is inherited).
 */
export const FeatureDisableInput = z
  .strictObject({
    reason: Reason,
    requestedBy: RequestedBy.optional(),
    /** The rollout whose log records the disable (set by a rollout that rolls itself back). */
    rolloutId: RolloutId.optional(),
    /** The alarm router names the change it undoes `changeId`: for a rollout, its rollout id. */
    changeId: RolloutId.optional(),
    /** Set when a rollout runs this disable: the lock it holds is inherited, not taken. */
    parentExecutionId: z.string().startsWith('arn:').optional(),
    trigger: z
      .strictObject({
        source: z.enum(['rollout', 'operator', 'alarm', 'drill']),
        alarmName: z.string().min(1).max(255).optional(),
        error: z.string().max(256).optional(),
        cause: z.string().max(32_768).optional(),
      })
      .optional(),
    /** End-to-end budget: from the start of this execution to "the app serves the feature off". */
    budgetSeconds: z.number().int().min(1).max(60).default(60),
  })
  .refine((i) => !i.rolloutId || !i.changeId || i.rolloutId === i.changeId, {
    path: ['changeId'],
    message: 'changeId and rolloutId name different rollouts',
  });

/**
 * The EventBridge event of a CloudWatch alarm entering ALARM, as a rule (or the alarm router)
 * may pass it straight through: it starts a disable with the alarm as its trigger.
 */
const AlarmStateChange = z.looseObject({
  source: z.literal('aws.cloudwatch'),
  'detail-type': z.literal('CloudWatch Alarm State Change'),
  detail: z.looseObject({
    alarmName: z.string().min(1).max(255),
    state: z.looseObject({ value: z.string(), reason: z.string().optional() }),
  }),
});

const Input = z.object({
  procedure: z.enum(['feature-rollout', 'feature-disable']),
  executionId: z.string().min(1),
  executionName: z.string().min(1),
  startTime: z.iso.datetime({ offset: true }),
  input: z.unknown(),
});

export interface RolloutRequest {
  readonly procedure: 'feature-rollout';
  readonly environment: string;
  readonly rolloutId: string;
  readonly reason: string;
  readonly requestedBy: string;
  readonly dryRun: boolean;
  readonly phases: PlannedPhase[];
  readonly phaseCount: number;
  readonly gate: GatePolicy;
  readonly approval: ApprovalPolicy;
  readonly checks: { readonly withinSeconds: number };
  /** Dry runs change nothing and take no lock (they may run for days beside real changes). */
  readonly lock: { readonly owner: string; readonly take: boolean };
  /** The stage's stability polling: what the hold for an operator waits with after its restart. */
  readonly timing: StageTiming;
}

export interface DisableRequest {
  readonly procedure: 'feature-disable';
  readonly environment: string;
  readonly reason: string;
  readonly requestedBy: string;
  readonly rolloutId: string | null;
  readonly trigger: {
    readonly source: string;
    readonly alarmName: string | null;
    readonly error: string | null;
    readonly cause: string | null;
  };
  readonly budgetSeconds: number;
  readonly startedAt: string;
  readonly lock: { readonly owner: string; readonly inherited: boolean };
  readonly timing: StageTiming;
}

type StageTiming = { readonly stabilityPollSeconds: number; readonly stabilityMaxAttempts: number };
type StageConfig = { readonly environment: string; readonly timing: StageTiming };

/** The stage's stability polling, as every request carries it (`$.request.timing`). */
const timingOf = ({ timing }: StageConfig): StageTiming => ({
  stabilityPollSeconds: timing.stabilityPollSeconds,
  stabilityMaxAttempts: timing.stabilityMaxAttempts,
});

/**
 * First state of `feature-rollout` and `feature-disable`: parses the execution input and returns
 * the normalised request the rest of the state machine reads as `$.request`. A malformed input
 * ends the execution here, before any side effect, with InvalidInputError naming each bad field.
 */
export const featureInput = defineStep({
  name: 'feature-input',
  input: Input,
  async run(event, { config }): Promise<RolloutRequest | DisableRequest> {
    if (event.procedure === 'feature-rollout') return rolloutRequest(event, config);
    return disableRequest(event, config);
  },
});

function rolloutRequest(event: z.infer<typeof Input>, config: StageConfig): RolloutRequest {
  parseOrThrow(
    z.object({ executionName: RolloutId }),
    { executionName: event.executionName },
    InvalidInputError,
    'feature-rollout execution name',
  );
  const input = parseOrThrow(FeatureRolloutInput, event.input, InvalidInputError, 'feature-rollout input');
  const gate = GatePolicy.parse(input.gate ?? {});
  const approval = ApprovalPolicy.parse(input.approval ?? {});
  const specs =
    input.phases ??
    seedPhases({
      internalProjects: input.internalProjects ?? [...SEED_INTERNAL_PROJECTS],
      canaryPercentage: input.canaryPercentage ?? SEED_CANARY_PERCENTAGE,
      bakeSeconds: input.bakeSeconds ?? {},
      skip: (input.skipPhases ?? []) as SeedPhaseName[],
    });
  const phases: PlannedPhase[] = specs.map((p, index) => ({
    ...p,
    index,
    evaluations: evaluationsFor(p.bakeSeconds, gate.intervalSeconds),
  }));
  const evaluations = phases.reduce((n, p) => n + p.evaluations, 0);
  if (evaluations > MAX_EVALUATIONS) {
    throw new InvalidInputError(
      `Invalid feature-rollout input: the plan needs ${evaluations} gate evaluations (bake / gate.intervalSeconds per phase); one execution can hold at most ${MAX_EVALUATIONS}. Raise gate.intervalSeconds or shorten the bakes.`,
    );
  }
  const total =
    phases.reduce((n, p) => n + p.bakeSeconds, 0) +
    (approval.required ? (phases.length - 1) * approval.timeoutSeconds : 0);
  if (total > MAX_TOTAL_SECONDS) {
    throw new InvalidInputError(
      `Invalid feature-rollout input: bakes and approval timeouts add up to ${total} s; one rollout may take at most ${MAX_TOTAL_SECONDS} s (20 days).`,
    );
  }
  return {
    procedure: 'feature-rollout',
    environment: config.environment,
    rolloutId: event.executionName,
    reason: input.reason,
    requestedBy: input.requestedBy ?? 'unknown',
    dryRun: input.dryRun,
    phases,
    phaseCount: phases.length,
    gate,
    approval,
    checks: { withinSeconds: input.checkWithinSeconds },
    lock: { owner: event.executionId, take: !input.dryRun },
    timing: timingOf(config),
  };
}

function disableRequest(event: z.infer<typeof Input>, config: StageConfig): DisableRequest {
  const raw = withoutStartedBy(event.input);
  const alarm = AlarmStateChange.safeParse(raw);
  const input = alarm.success
    ? parseOrThrow(
        FeatureDisableInput,
        {
          reason: `Alarm ${alarm.data.detail.alarmName} is ${alarm.data.detail.state.value}`.slice(0, 500),
          requestedBy: 'alarm',
          trigger: {
            source: 'alarm',
            alarmName: alarm.data.detail.alarmName,
            cause: alarm.data.detail.state.reason?.slice(0, 32_768),
          },
        },
        InvalidInputError,
        'feature-disable alarm event',
      )
    : parseOrThrow(FeatureDisableInput, raw, InvalidInputError, 'feature-disable input');
  return {
    procedure: 'feature-disable',
    environment: config.environment,
    reason: input.reason,
    requestedBy: input.requestedBy ?? 'unknown',
    rolloutId: input.rolloutId ?? input.changeId ?? null,
    trigger: {
      source: input.trigger?.source ?? 'operator',
      alarmName: input.trigger?.alarmName ?? null,
      error: input.trigger?.error ?? null,
      cause: input.trigger?.cause ?? null,
    },
    budgetSeconds: input.budgetSeconds,
    startedAt: new Date(event.startTime).toISOString(),
    lock: {
      owner: input.parentExecutionId ?? event.executionId,
      inherited: input.parentExecutionId !== undefined,
    },
    timing: timingOf(config),
  };
}
