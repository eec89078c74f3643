import { describe, expect, it } from 'vitest';
import { restartService } from '../../functions/restart-service/restart-service';
import { InvalidInputError, ServiceNotFoundError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { fakeDeps, ScriptedServiceController, serviceState } from '../support/fakes';

const RECORDED = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/api:5';

describe('restart-service', () => {
  it('starts a new deployment on the current task definition and returns it to watch', async () => {
    const deps = fakeDeps();
    const result = await invokeStep(restartService, { service: 'api' }, deps);
    expect(result).toEqual({
      service: 'api',
      deploymentId: 'ecs-svc/2',
      taskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/api:7',
      startedAt: '2025-03-01T10:00:00.000Z',
    });
    expect(deps.services.redeploys).toEqual([{ service: 'api', taskDefinition: undefined }]);
  });

  it('passes a recorded task definition through (a rollback restores it)', async () => {
    const deps = fakeDeps();
    const result = await invokeStep(restartService, { service: 'api', taskDefinition: RECORDED }, deps);
    expect(deps.services.redeploys).toEqual([{ service: 'api', taskDefinition: RECORDED }]);
    expect(result.taskDefinition).toBe(RECORDED);
    expect((await deps.services.describe('api')).deployments[0]).toMatchObject({
      id: result.deploymentId,
      status: 'PRIMARY',
      taskDefinition: RECORDED,
    });
  });

  it('treats a null task definition (a rollback to defaults) as "keep the current one"', async () => {
    const deps = fakeDeps();
    await invokeStep(restartService, { service: 'sidecar', taskDefinition: null }, deps);
    expect(deps.services.redeploys).toEqual([{ service: 'sidecar', taskDefinition: undefined }]);
  });

  it('lets ServiceNotFoundError through by name', async () => {
    const deps = fakeDeps({ services: new ScriptedServiceController({ sidecar: serviceState() }) });
    const err = await invokeStep(restartService, { service: 'api' }, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceNotFoundError);
    expect((err as Error).name).toBe('ServiceNotFoundError');
  });

  it.each([
    ['service', { service: 'db' }],
    ['taskDefinition', { service: 'api', taskDefinition: '' }],
  ])('refuses a bad %s without redeploying', async (field, input) => {
    const deps = fakeDeps();
    const err = await invokeStep(restartService, input, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toContain(field);
    expect(deps.services.redeploys).toEqual([]);
  });
});
