import { z } from 'zod';

/**
 * Input fields every procedure shares, defined once so that all validators refuse the same things
 * with the same words.
 */
export const Reason = z.string().trim().min(3, 'say why, in at least 3 characters').max(500);
export const RequestedBy = z.string().trim().min(1).max(128);

/** Step Functions links a nested execution to its parent with this input key; it is not ours to validate. */
export const STARTED_BY_KEY = 'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID';

/** The execution input without Step Functions' parent link (so strict schemas can refuse everything else). */
export function withoutStartedBy(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input) || !(STARTED_BY_KEY in input)) {
    return input;
  }
  const { [STARTED_BY_KEY]: _parent, ...rest } = input as Record<string, unknown>;
  return rest;
}

/** What started a rollback, as the cutover's Catch, the router, an operator or a drill pass it. */
export const RollbackTrigger = z.strictObject({
  source: z.enum(['cutover', 'operator', 'alarm', 'drill']),
  error: z.string().max(256).optional(),
  cause: z.string().max(32_768).optional(),
});

/** Set when a cutover or the rollback router runs a rollback: their lock is inherited, not taken. */
export const ParentExecutionId = z.string().startsWith('arn:');

/**
 * Step Functions allows execution names (e.g. `rollback(drill)`, `cutover.2`) that the smoke test's
 * marker pattern refuses; such a name must not fail a rollback at its verification step.
 */
export function smokeMarker(executionName: string): string {
  return `switchback-smoke-${executionName.replace(/[^A-Za-z0-9_.:-]/g, '-').slice(0, 80)}`;
}

/** The lock a request runs under: its parent's when a parent delegated it, otherwise its own. */
export function requestLock(parentExecutionId: string | undefined, executionId: string) {
  return { owner: parentExecutionId ?? executionId, inherited: parentExecutionId !== undefined };
}

/** The stage's stability timing, as the stability waits read it from the request. */
export function requestTiming(timing: { stabilityPollSeconds: number; stabilityMaxAttempts: number }) {
  return {
    stabilityPollSeconds: timing.stabilityPollSeconds,
    stabilityMaxAttempts: timing.stabilityMaxAttempts,
  };
}

/** The trigger of a rollback with every field present (null when not given); an operator by default. */
export function requestTrigger(trigger: z.infer<typeof RollbackTrigger> | undefined) {
  return {
    source: trigger?.source ?? 'operator',
    error: trigger?.error ?? null,
    cause: trigger?.cause ?? null,
  };
}
