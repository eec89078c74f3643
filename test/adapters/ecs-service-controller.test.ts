import 'aws-sdk-client-mock-vitest/extend';
import {
  ConflictException,
  DescribeServiceDeploymentsCommand,
  DescribeServiceRevisionsCommand,
  DescribeServicesCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
  ServiceNotFoundException,
  StopServiceDeploymentCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EcsServiceController } from '../../functions/shared/adapters/ecs-service-controller';
import {
  DeploymentFailedError,
  DeploymentNotStoppableError,
  ServiceNotFoundError,
} from '../../functions/shared/errors';

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

describe('EcsServiceController.stopDeployment', () => {
  const PREFIX = 'arn:aws:ecs:eu-west-1:123456789012';
  const SD = (id: string) => `${PREFIX}:service-deployment/memory-prod/memory-api/${id}`;
  const REV = (n: number) => `${PREFIX}:service-revision/memory-prod/memory-api/${n}000000000000000000`;
  const REVISION_TD: Record<string, string> = { [REV(7)]: TD(7), [REV(8)]: TD(8), [REV(9)]: TD(9) };

  /** A service whose deployments are [id, status, rolloutState, running, task definition revision]. */
  const rolling = (
    ...deployments: [string, string, 'IN_PROGRESS' | 'COMPLETED' | 'FAILED', number, number][]
  ) => ({
    services: [
      {
        serviceName: 'memory-api',
        status: 'ACTIVE',
        taskDefinition: TD(deployments[0]![4]),
        deployments: deployments.map(([id, status, rolloutState, runningCount, td]) => ({
          id,
          status,
          rolloutState,
          desiredCount: status === 'PRIMARY' ? 2 : 0,
          runningCount,
          taskDefinition: TD(td),
        })),
      },
    ],
  });
  /** CI's deploy of api:8 replacing api:7, still rolling out. */
  const BEFORE = rolling(
    ['ecs-svc/2', 'PRIMARY', 'IN_PROGRESS', 1, 8],
    ['ecs-svc/1', 'ACTIVE', 'COMPLETED', 2, 7],
  );
  /** ECS rolling back: a deployment of api:7 is PRIMARY. */
  const AFTER = rolling(
    ['ecs-svc/3', 'PRIMARY', 'IN_PROGRESS', 0, 7],
    ['ecs-svc/2', 'ACTIVE', 'FAILED', 1, 8],
  );

  const slept: number[] = [];
  const stopper = (attempts = 5) =>
    new EcsServiceController(
      client,
      'memory-prod',
      { api: 'memory-api', sidecar: 'mem0' },
      { rollbackPolls: { attempts, intervalMs: 1500 }, sleep: async (ms) => slept.push(ms) },
    );
  beforeEach(() => {
    slept.length = 0;
    ecs.on(DescribeServiceRevisionsCommand).callsFake((input: { serviceRevisionArns: string[] }) => ({
      serviceRevisions: input.serviceRevisionArns
        .filter((arn) => REVISION_TD[arn])
        .map((arn) => ({ serviceRevisionArn: arn, taskDefinition: REVISION_TD[arn] })),
    }));
  });
  const listed = (...deployments: { id: string; revision: number; status: string }[]) => ({
    serviceDeployments: deployments.map((d) => ({
      serviceDeploymentArn: SD(d.id),
      targetServiceRevisionArn: REV(d.revision),
      status: d.status as 'IN_PROGRESS',
      createdAt: new Date('2025-03-01T10:00:00Z'),
    })),
  });
  /** ECS shows BEFORE, and lists CI's service deployment of api:8 in progress. */
  const ciDeployListed = () => {
    ecs.on(DescribeServicesCommand).resolves(BEFORE);
    ecs
      .on(ListServiceDeploymentsCommand)
      .resolves(listed({ id: 'ci-deploy', revision: 8, status: 'IN_PROGRESS' }));
  };
  const rejection = (p: Promise<unknown>) =>
    p.then(
      () => new Error('expected a rejection'),
      (e: unknown) => e as Error,
    );

  it('resolves the deployment to its service deployment (two pages), stops it with ROLLBACK and returns the PRIMARY deployment running the revision rolled back to', async () => {
    ecs.on(DescribeServicesCommand).resolvesOnce(BEFORE).resolvesOnce(BEFORE).resolves(AFTER);
    ecs
      .on(ListServiceDeploymentsCommand)
      .resolvesOnce({ ...listed({ id: 'other', revision: 9, status: 'PENDING' }), nextToken: 'page-2' })
      .resolves(listed({ id: 'ci-deploy', revision: 8, status: 'IN_PROGRESS' }));
    ecs.on(StopServiceDeploymentCommand).resolves({ serviceDeploymentArn: SD('ci-deploy') });
    ecs.on(DescribeServiceDeploymentsCommand).resolves({
      serviceDeployments: [
        {
          serviceDeploymentArn: SD('ci-deploy'),
          status: 'ROLLBACK_REQUESTED',
          sourceServiceRevisions: [{ arn: REV(7), runningTaskCount: 2 }],
          targetServiceRevision: { arn: REV(8), runningTaskCount: 1 },
          rollback: { serviceRevisionArn: REV(7), reason: 'stopped', startedAt: new Date() },
        },
      ],
    });

    await expect(stopper().stopDeployment('api', 'ecs-svc/2')).resolves.toEqual({
      deploymentId: 'ecs-svc/3',
      taskDefinition: TD(7),
    });
    const lists = ecs.commandCalls(ListServiceDeploymentsCommand);
    expect(lists).toHaveLength(2);
    expect(lists[0]!.args[0].input).toMatchObject({
      cluster: 'memory-prod',
      service: 'memory-api',
      status: ['PENDING', 'IN_PROGRESS', 'ROLLBACK_REQUESTED', 'ROLLBACK_IN_PROGRESS'],
    });
    expect(lists[1]!.args[0].input.nextToken).toBe('page-2');
    const stops = ecs.commandCalls(StopServiceDeploymentCommand);
    expect(stops.map((c) => c.args[0].input)).toEqual([
      { serviceDeploymentArn: SD('ci-deploy'), stopType: 'ROLLBACK' },
    ]);
    expect(ecs).toHaveReceivedCommandWith(DescribeServiceDeploymentsCommand, {
      serviceDeploymentArns: [SD('ci-deploy')],
    });
    // Before the stop, once after it (ECS still showed the stopped deployment PRIMARY), then the rollback.
    expect(ecs).toHaveReceivedCommandTimes(DescribeServicesCommand, 3);
    expect(slept).toEqual([1500]);
  });

  it('without a rollback revision reported yet, takes the source revision serving most tasks', async () => {
    ecs.on(DescribeServicesCommand).resolvesOnce(BEFORE).resolves(AFTER);
    ecs
      .on(ListServiceDeploymentsCommand)
      .resolves(listed({ id: 'ci-deploy', revision: 8, status: 'IN_PROGRESS' }));
    ecs.on(StopServiceDeploymentCommand).resolves({ serviceDeploymentArn: SD('ci-deploy') });
    ecs.on(DescribeServiceDeploymentsCommand).resolves({
      serviceDeployments: [
        {
          serviceDeploymentArn: SD('ci-deploy'),
          sourceServiceRevisions: [
            { arn: REV(9), runningTaskCount: 0 },
            { arn: REV(7), runningTaskCount: 2 },
          ],
        },
      ],
    });
    await expect(stopper().stopDeployment('api', 'ecs-svc/2')).resolves.toEqual({
      deploymentId: 'ecs-svc/3',
      taskDefinition: TD(7),
    });
    expect(slept).toEqual([]);
  });

  it.each([
    [
      "not among the service's deployments",
      'ecs-svc/42',
      'memory-api: deployment ecs-svc/42 is not among its deployments (ecs-svc/2, ecs-svc/1)',
    ],
    [
      'no longer rolling out',
      'ecs-svc/1',
      'memory-api: deployment ecs-svc/1 is COMPLETED, not IN_PROGRESS: there is nothing to stop',
    ],
  ])('refuses a deployment %s, asking ECS nothing more', async (_what, id, message) => {
    ecs.on(DescribeServicesCommand).resolves(BEFORE);
    const err = await rejection(stopper().stopDeployment('api', id));
    expect(err).toBeInstanceOf(DeploymentNotStoppableError);
    expect(err.message).toBe(message);
    expect(ecs).toHaveReceivedCommandTimes(ListServiceDeploymentsCommand, 0);
    expect(ecs).toHaveReceivedCommandTimes(StopServiceDeploymentCommand, 0);
  });

  it.each([
    [
      'ECS lists none in progress',
      {},
      'memory-api: ECS lists no service deployment in progress (PENDING, IN_PROGRESS, ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS) for ecs-svc/2',
    ],
    [
      'the one in progress deploys another task definition',
      listed({ id: 'other', revision: 9, status: 'IN_PROGRESS' }),
      `memory-api: none of the 1 service deployments in progress deploys ${TD(8)} (ecs-svc/2)`,
    ],
  ])('refuses when %s, stopping nothing', async (_what, list, message) => {
    ecs.on(DescribeServicesCommand).resolves(BEFORE);
    ecs.on(ListServiceDeploymentsCommand).resolves(list);
    const err = await rejection(stopper().stopDeployment('api', 'ecs-svc/2'));
    expect(err).toBeInstanceOf(DeploymentNotStoppableError);
    expect(err.message).toBe(message);
    expect(ecs).toHaveReceivedCommandTimes(StopServiceDeploymentCommand, 0);
  });

  it('turns ECS refusing the stop (ConflictException: it completed meanwhile) into DeploymentNotStoppableError', async () => {
    ciDeployListed();
    ecs
      .on(StopServiceDeploymentCommand)
      .rejects(new ConflictException({ message: 'The service deployment is completed.', $metadata: {} }));
    const err = await rejection(stopper().stopDeployment('api', 'ecs-svc/2'));
    expect(err).toBeInstanceOf(DeploymentNotStoppableError);
    expect(err.message).toBe(
      `ECS refused to stop ${SD('ci-deploy')} (memory-api): ConflictException: The service deployment is completed.`,
    );
    expect(ecs).toHaveReceivedCommandTimes(DescribeServiceDeploymentsCommand, 0);
    expect(ecs).toHaveReceivedCommandTimes(DescribeServicesCommand, 1);
  });

  it('turns ServiceNotFoundException from the deployment history into ServiceNotFoundError', async () => {
    ecs.on(DescribeServicesCommand).resolves(BEFORE);
    ecs
      .on(ListServiceDeploymentsCommand)
      .rejects(new ServiceNotFoundException({ message: 'Service not found.', $metadata: {} }));
    await expect(stopper().stopDeployment('api', 'ecs-svc/2')).rejects.toThrow(
      new ServiceNotFoundError('ECS service memory-api not found in cluster memory-prod'),
    );
    expect(ecs).toHaveReceivedCommandTimes(StopServiceDeploymentCommand, 0);
  });

  it('says what it saw when ECS accepted the stop but no deployment carries the rollback within its looks', async () => {
    ciDeployListed();
    ecs.on(StopServiceDeploymentCommand).resolves({ serviceDeploymentArn: SD('ci-deploy') });
    ecs.on(DescribeServiceDeploymentsCommand).resolves({
      serviceDeployments: [
        { serviceDeploymentArn: SD('ci-deploy'), rollback: { serviceRevisionArn: REV(7) } },
      ],
    });
    const err = await rejection(stopper(3).stopDeployment('api', 'ecs-svc/2'));
    expect(err).toBeInstanceOf(DeploymentFailedError);
    expect(err.message).toBe(
      `memory-api: ECS accepted the rollback of ecs-svc/2 (${SD('ci-deploy')}) but after 3 looks its PRIMARY deployment is ecs-svc/2 on ${TD(8)}, not one on ${TD(7)}`,
    );
    expect(slept).toEqual([1500, 1500]);
    expect(ecs).toHaveReceivedCommandTimes(StopServiceDeploymentCommand, 1);
  });
});
