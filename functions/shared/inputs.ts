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
