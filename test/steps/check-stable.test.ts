import { describe, expect, it } from 'vitest';
import { checkStable } from '../../functions/check-stable/check-stable';
import { DeploymentFailedError, InvalidInputError } from '../../functions/shared/errors';
import type { Deployment } from '../../functions/shared/ports';
import { invokeStep } from '../../functions/shared/step';
import { deployment, fakeDeps, ScriptedServiceController, serviceState } from '../support/fakes';

const NEW = 'ecs-svc/2';

function depsWith(...deployments: Deployment[]) {
  return fakeDeps({ services: new ScriptedServiceController({ api: serviceState(deployments) }) });
}

const poll = (attempt = 0, maxAttempts = 5) => ({ service: 'api', deploymentId: NEW, attempt, maxAttempts });
const old = deployment({ id: 'ecs-svc/1', status: 'ACTIVE', rolloutState: 'COMPLETED' });

async function failed(deps: ReturnType<typeof depsWith>, input = poll()): Promise<Error> {
  const err = await invokeStep(checkStable, input, deps).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DeploymentFailedError);
  expect((err as Error).name).toBe('DeploymentFailedError');
  return err as Error;
}

describe('check-stable', () => {
  it('is stable when the watched deployment is the only one, COMPLETED, with every task running', async () => {
    const deps = depsWith(deployment({ id: NEW, desiredCount: 3, runningCount: 3 }));
    const result = await invokeStep(checkStable, poll(2), deps);
    expect(result).toEqual({
      stable: true,
      exhausted: false,
      attempt: 3,
      runningCount: 3,
      desiredCount: 3,
      rolloutState: 'COMPLETED',
    });
  });

  it.each([
    ['the old deployment is still draining', [deployment({ id: NEW }), old]],
    ['the rollout is still in progress', [deployment({ id: NEW, rolloutState: 'IN_PROGRESS' })]],
    ['fewer tasks run than desired', [deployment({ id: NEW, runningCount: 1, desiredCount: 2 })]],
  ])('is not stable yet when %s', async (_why, deployments) => {
    const result = await invokeStep(checkStable, poll(0), depsWith(...deployments));
    expect(result).toMatchObject({ stable: false, exhausted: false, attempt: 1 });
  });

  it('is exhausted when the attempt reaches the maximum without being stable', async () => {
    const deps = depsWith(deployment({ id: NEW, rolloutState: 'IN_PROGRESS', runningCount: 1 }));
    const result = await invokeStep(checkStable, poll(4, 5), deps);
    expect(result).toMatchObject({ stable: false, exhausted: true, attempt: 5, runningCount: 1 });
  });

  it('is not exhausted when the last allowed attempt finds it stable', async () => {
    const result = await invokeStep(checkStable, poll(4, 5), depsWith(deployment({ id: NEW })));
    expect(result).toMatchObject({ stable: true, exhausted: false, attempt: 5 });
  });

  it('follows the rollout across polls until it completes', async () => {
    const services = new ScriptedServiceController().queue(
      'api',
      serviceState([deployment({ id: NEW, rolloutState: 'IN_PROGRESS', runningCount: 0 }), old]),
      serviceState([deployment({ id: NEW, rolloutState: 'IN_PROGRESS', runningCount: 2 }), old]),
      serviceState([deployment({ id: NEW })]),
    );
    const deps = fakeDeps({ services });
    const seen: boolean[] = [];
    let attempt = 0;
    for (let i = 0; i < 3; i++) {
      const r = await invokeStep(checkStable, poll(attempt, 5), deps);
      seen.push(r.stable);
      attempt = r.attempt;
    }
    expect(seen).toEqual([false, false, true]);
    expect(attempt).toBe(3);
  });

  it('throws DeploymentFailedError at once when the rollout FAILED (ECS circuit breaker)', async () => {
    const err = await failed(depsWith(deployment({ id: NEW, rolloutState: 'FAILED', runningCount: 0 }), old));
    expect(err.message).toContain('rollout FAILED');
  });

  it('throws DeploymentFailedError when the watched deployment is gone', async () => {
    const err = await failed(depsWith(deployment({ id: 'ecs-svc/9' })));
    expect(err.message).toContain(`${NEW} is gone`);
  });

  it('throws DeploymentFailedError when someone else deployed over it', async () => {
    const err = await failed(
      depsWith(
        deployment({ id: 'ecs-svc/3' }),
        deployment({ id: NEW, status: 'ACTIVE', rolloutState: 'COMPLETED' }),
      ),
    );
    expect(err.message).toContain('superseded');
  });

  it.each([
    ['attempt', { ...poll(), attempt: -1 }],
    ['maxAttempts', { ...poll(), maxAttempts: 0 }],
    ['deploymentId', { ...poll(), deploymentId: '' }],
  ])('refuses a bad %s', async (field, input) => {
    const deps = depsWith(deployment({ id: NEW }));
    const err = await invokeStep(checkStable, input, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toContain(field);
    expect(deps.services.describes).toEqual([]);
  });
});
