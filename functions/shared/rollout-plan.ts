import { z } from 'zod';
import { MemoryContextFlag, ProjectId } from './memory-context';

/**
 * The shape of a phased feature rollout (seed 003) and its defaults: four phases from
 * deployed-but-off to 100 %, each baking for its duration while a gate is evaluated every
 * interval. The execution input may change any of it; `feature-input` validates and normalises
 * it into a `RolloutPlan` the state machine loops over.
 */

export const PhaseName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'lowercase letters, digits and "-", starting with a letter');

/** Longest bake of one phase, and of all phases together, plus approvals (Step Functions timers). */
export const MAX_PHASE_BAKE_SECONDS = 14 * 24 * 3600;
export const MAX_TOTAL_SECONDS = 20 * 24 * 3600;
export const MAX_APPROVAL_TIMEOUT_SECONDS = 2 * 24 * 3600;
/**
 * Step Functions keeps at most 25,000 events per execution; each gate evaluation costs about nine
 * (Wait, Task, Choice). Above this many evaluations the input is refused rather than failing days in.
 */
export const MAX_EVALUATIONS = 2000;

export const PhaseSpec = z.strictObject({
  name: PhaseName,
  title: z.string().trim().min(1).max(80),
  flag: MemoryContextFlag,
  bakeSeconds: z.number().int().min(1).max(MAX_PHASE_BAKE_SECONDS),
});
export type PhaseSpec = z.infer<typeof PhaseSpec>;

/** A phase as the state machine carries it: with its position and how many evaluations it bakes for. */
export interface PlannedPhase extends PhaseSpec {
  readonly index: number;
  readonly evaluations: number;
}

/**
 * Seed 003's success criteria as a gate. Every limit is strict ("error rate < 0.1 %"). Counters
 * (requests, errors) with no data count as zero; a rate is only judged from `minRequests` requests
 * in the window. Gauges (p95, memory, CPU) with no data, or a metrics source that cannot answer,
 * follow `missingData`: `breaching` fails the evaluation, `notBreaching` passes it, `ignore`
 * leaves that signal unjudged. `tolerance` consecutive failed evaluations roll back; a P0 alarm in
 * ALARM rolls back at once.
 */
export const GatePolicy = z.strictObject({
  intervalSeconds: z.number().int().min(1).max(3600).default(300),
  errorRateBelowPercent: z.number().positive().max(100).default(0.1),
  p95LatencyBelowMs: z.number().positive().max(600_000).default(500),
  memoryBelowMb: z.number().positive().max(1_000_000).default(512),
  cpuBelowPercent: z.number().positive().max(100).default(80),
  minRequests: z.number().int().min(0).max(100_000_000).default(100),
  missingData: z.enum(['breaching', 'notBreaching', 'ignore']).default('breaching'),
  tolerance: z.number().int().min(1).max(100).default(3),
  failOnP0Alarm: z.boolean().default(true),
});
export type GatePolicy = z.infer<typeof GatePolicy>;

export const ApprovalPolicy = z.strictObject({
  /** Wait for an operator between phases (`switchback approve`); a timeout rolls back. */
  required: z.boolean().default(false),
  timeoutSeconds: z.number().int().min(1).max(MAX_APPROVAL_TIMEOUT_SECONDS).default(86_400),
});
export type ApprovalPolicy = z.infer<typeof ApprovalPolicy>;

/** Seed 003's phases. */
export const SEED_PHASE_NAMES = ['infrastructure', 'internal', 'canary', 'full'] as const;
export type SeedPhaseName = (typeof SEED_PHASE_NAMES)[number];

export const SEED_BAKE_SECONDS: Readonly<Record<SeedPhaseName, number>> = {
  infrastructure: 4 * 3600,
  internal: 24 * 3600,
  canary: 48 * 3600,
  full: 48 * 3600,
};

/** Seed 003's internal test project. */
export const SEED_INTERNAL_PROJECTS = ['internal-test'] as const;
export const SEED_CANARY_PERCENTAGE = 10;

/** The phases of seed 003 for an allow-list and a canary percentage. */
export function seedPhases(opts: {
  internalProjects: readonly string[];
  canaryPercentage: number;
  bakeSeconds: Partial<Record<SeedPhaseName, number>>;
  skip: readonly SeedPhaseName[];
}): PhaseSpec[] {
  const allowList = [...opts.internalProjects];
  const all: PhaseSpec[] = [
    {
      name: 'infrastructure',
      title: 'Phase 1: Infrastructure',
      flag: { enabled: false, percentage: 0, allowList: [] },
      bakeSeconds: opts.bakeSeconds.infrastructure ?? SEED_BAKE_SECONDS.infrastructure,
    },
    {
      name: 'internal',
      title: 'Phase 2: Internal Users',
      flag: { enabled: true, percentage: 0, allowList },
      bakeSeconds: opts.bakeSeconds.internal ?? SEED_BAKE_SECONDS.internal,
    },
    {
      name: 'canary',
      title: `Phase 3: ${opts.canaryPercentage}% Traffic`,
      flag: { enabled: true, percentage: opts.canaryPercentage, allowList },
      bakeSeconds: opts.bakeSeconds.canary ?? SEED_BAKE_SECONDS.canary,
    },
    {
      name: 'full',
      title: 'Phase 4: 100% Rollout',
      flag: { enabled: true, percentage: 100, allowList },
      bakeSeconds: opts.bakeSeconds.full ?? SEED_BAKE_SECONDS.full,
    },
  ];
  return all.filter((p) => !opts.skip.includes(p.name as SeedPhaseName));
}

/** Gate evaluations a phase bakes for: enough intervals to cover its bake time. */
export function evaluationsFor(bakeSeconds: number, intervalSeconds: number): number {
  return Math.max(1, Math.ceil(bakeSeconds / intervalSeconds));
}

export { ProjectId };
