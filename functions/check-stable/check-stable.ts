import { z } from 'zod';
import { DeploymentFailedError } from '../shared/errors';
import { defineStep } from '../shared/step';

const Input = z.strictObject({
  service: z.enum(['api', 'sidecar']),
  deploymentId: z.string().min(1),
  /** Polls made so far; the state machine feeds back the returned value. */
  attempt: z.number().int().min(0),
  maxAttempts: z.number().int().min(1),
});

export interface StabilityResult {
  readonly stable: boolean;
  readonly exhausted: boolean;
  readonly attempt: number;
  readonly runningCount: number;
  readonly desiredCount: number;
  readonly rolloutState: string;
}

/**
 * One poll of the bounded "wait until stable" loop. Stable means the watched deployment is the
 * only one left, its rollout COMPLETED and all desired tasks running. A FAILED rollout or a
 * deployment replaced by someone else's throws DeploymentFailedError at once; running out of
 * attempts returns `exhausted` and the state machine rolls back.
 */
export const checkStable = defineStep({
  name: 'check-stable',
  input: Input,
  async run(input, { services }): Promise<StabilityResult> {
    const state = await services.describe(input.service);
    const deployment = state.deployments.find((d) => d.id === input.deploymentId);
    if (!deployment) {
      throw new DeploymentFailedError(
        `${input.service}: deployment ${input.deploymentId} is gone (replaced?)`,
      );
    }
    if (deployment.rolloutState === 'FAILED') {
      throw new DeploymentFailedError(`${input.service}: deployment ${input.deploymentId} rollout FAILED`);
    }
    if (deployment.status !== 'PRIMARY') {
      throw new DeploymentFailedError(`${input.service}: deployment ${input.deploymentId} was superseded`);
    }
    const stable =
      state.deployments.length === 1 &&
      deployment.rolloutState === 'COMPLETED' &&
      deployment.runningCount >= deployment.desiredCount;
    const attempt = input.attempt + 1;
    return {
      stable,
      exhausted: !stable && attempt >= input.maxAttempts,
      attempt,
      runningCount: deployment.runningCount,
      desiredCount: deployment.desiredCount,
      rolloutState: deployment.rolloutState,
    };
  },
});
