import 'aws-sdk-client-mock-vitest/extend';
import {
  DescribeServicesCommand,
  ECSClient,
  ServiceNotFoundException,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EcsServiceController } from '../../functions/shared/adapters/ecs-service-controller';
import { ServiceNotFoundError } from '../../functions/shared/errors';

const client = new ECSClient({ region: 'eu-west-1' });
const ecs = mockClient(client);
beforeEach(() => ecs.reset());

const TD = (n: number) => `arn:aws:ecs:eu-west-1:123456789012:task-definition/api:${n}`;
const controller = () =>
  new EcsServiceController(client, 'memory-prod', { api: 'memory-api', sidecar: 'mem0' });

describe('EcsServiceController.describe', () => {
  it('maps the service and its deployments', async () => {
    ecs.on(DescribeServicesCommand).resolves({
      services: [
        {
          serviceName: 'memory-api',
          status: 'ACTIVE',
          taskDefinition: TD(8),
          desiredCount: 2,
          runningCount: 3,
          deployments: [
            {
              id: 'ecs-svc/2',
              status: 'PRIMARY',
              rolloutState: 'IN_PROGRESS',
              desiredCount: 2,
              runningCount: 1,
              taskDefinition: TD(8),
            },
            {
              id: 'ecs-svc/1',
              status: 'ACTIVE',
              rolloutState: 'COMPLETED',
              desiredCount: 0,
              runningCount: 2,
              taskDefinition: TD(7),
            },
          ],
        },
      ],
    });
    await expect(controller().describe('api')).resolves.toEqual({
      taskDefinition: TD(8),
      desiredCount: 2,
      runningCount: 3,
      deployments: [
        {
          id: 'ecs-svc/2',
          status: 'PRIMARY',
          rolloutState: 'IN_PROGRESS',
          desiredCount: 2,
          runningCount: 1,
          taskDefinition: TD(8),
        },
        {
          id: 'ecs-svc/1',
          status: 'ACTIVE',
          rolloutState: 'COMPLETED',
          desiredCount: 0,
          runningCount: 2,
          taskDefinition: TD(7),
        },
      ],
    });
    expect(ecs).toHaveReceivedCommandWith(DescribeServicesCommand, {
      cluster: 'memory-prod',
      services: ['memory-api'],
    });
  });

  it('fills what ECS leaves out without inventing a healthy state', async () => {
    ecs.on(DescribeServicesCommand).resolves({
      services: [
        { status: 'ACTIVE', taskDefinition: TD(8), deployments: [{ id: 'ecs-svc/3', status: 'WEIRD' }] },
      ],
    });
    const state = await controller().describe('sidecar');
    expect(state).toMatchObject({ desiredCount: 0, runningCount: 0 });
    expect(state.deployments).toEqual([
      {
        id: 'ecs-svc/3',
        status: 'ACTIVE',
        rolloutState: 'IN_PROGRESS',
        desiredCount: 0,
        runningCount: 0,
        taskDefinition: TD(8),
      },
    ]);
    expect(ecs).toHaveReceivedCommandWith(DescribeServicesCommand, { services: ['mem0'] });
  });

  it.each([
    [
      'missing (ECS reports a failure)',
      { services: [], failures: [{ arn: 'memory-api', reason: 'MISSING' }] },
    ],
    ['INACTIVE (deleted)', { services: [{ status: 'INACTIVE', taskDefinition: TD(1) }] }],
  ])('throws ServiceNotFoundError for a service that is %s', async (_what, output) => {
    ecs.on(DescribeServicesCommand).resolves(output);
    const err = await controller()
      .describe('api')
      .then(
        () => new Error('expected a rejection'),
        (e: unknown) => e as Error,
      );
    expect(err).toBeInstanceOf(ServiceNotFoundError);
    expect(err.message).toContain('memory-api');
    expect(err.message).toContain('memory-prod');
  });
});

describe('EcsServiceController.redeploy', () => {
  const updated = {
    service: {
      taskDefinition: TD(8),
      deployments: [
        { id: 'ecs-svc/1', status: 'ACTIVE' },
        { id: 'ecs-svc/2', status: 'PRIMARY' },
      ],
    },
  };

  it('forces a new deployment on the current task definition, returning the PRIMARY deployment', async () => {
    ecs.on(UpdateServiceCommand).resolves(updated);
    await expect(controller().redeploy('api')).resolves.toEqual({
      deploymentId: 'ecs-svc/2',
      taskDefinition: TD(8),
    });
    const input = ecs.commandCalls(UpdateServiceCommand)[0]!.args[0].input;
    expect(input).toEqual({ cluster: 'memory-prod', service: 'memory-api', forceNewDeployment: true });
    expect(input).not.toHaveProperty('taskDefinition');
  });

  it('sends the task definition when given', async () => {
    ecs.on(UpdateServiceCommand).resolves(updated);
    await controller().redeploy('api', TD(7));
    expect(ecs).toHaveReceivedCommandWith(UpdateServiceCommand, {
      cluster: 'memory-prod',
      service: 'memory-api',
      forceNewDeployment: true,
      taskDefinition: TD(7),
    });
  });

  it('turns ECS ServiceNotFoundException into ServiceNotFoundError naming the service', async () => {
    ecs
      .on(UpdateServiceCommand)
      .rejects(new ServiceNotFoundException({ message: 'Service not found.', $metadata: {} }));
    await expect(controller().redeploy('api')).rejects.toThrow(
      new ServiceNotFoundError('ECS service memory-api not found in cluster memory-prod'),
    );
  });

  it('throws ServiceNotFoundError when ECS reports no PRIMARY deployment', async () => {
    ecs.on(UpdateServiceCommand).resolves({ service: { taskDefinition: TD(8), deployments: [] } });
    await expect(controller().redeploy('sidecar')).rejects.toThrow(ServiceNotFoundError);
  });
});
