import 'aws-sdk-client-mock-vitest/extend';
import {
  DescribeServiceDeploymentsCommand,
  DescribeServiceRevisionsCommand,
  ECSClient,
  ListServiceDeploymentsCommand,
} from '@aws-sdk/client-ecs';
import { GetParameterHistoryCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backupCatalog } from '../../functions/backup-catalog/backup-catalog';
import { changeRecord } from '../../functions/change-record/change-record';
import { journal } from '../../functions/journal/journal';
import { DynamoJournalStore } from '../../functions/shared/adapters/dynamodb-journal-store';
import { EcsDeploymentHistory } from '../../functions/shared/adapters/ecs-deployment-history';
import { SsmParameterHistory } from '../../functions/shared/adapters/ssm-parameter-history';
import { InvalidInputError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { parseStage, toRuntimeConfig } from '../../lib/config/stage';
import { LocalDynamo } from '../../local/adapters/lock-table';
import { ecsDeploymentEvent, parameterStoreEvent } from '../../local/change-events';
import { objectKeyOf, writeManifest } from '../../tasks/data/manifest';
import { fakeDeps } from '../support/fakes';

const CLUSTER = 'memory-test';
const TD = (n: number) => `arn:aws:ecs:eu-west-1:111122223333:task-definition/memory-api:${n}`;
const DEPLOYMENT_ARN = 'arn:aws:ecs:eu-west-1:111122223333:service-deployment/memory-test/memory-api/Abc123';
const AUTONOMOUS = '/memory/test/mcp/AUTONOMOUS_MODE';
/** What GetParameterHistory returns for a SecureString without decryption: ciphertext, never recorded. */
const CIPHERTEXT = 'AQICAHh-ciphertext-of-a-secure-string-never-recorded';

const config = toRuntimeConfig(
  parseStage({
    name: 'test',
    services: { cluster: CLUSTER, api: 'memory-api', sidecar: 'memory-sidecar' },
    endpoints: {
      apiBaseUrl: 'http://api.test.internal:13370',
      sidecarBaseUrl: 'http://sidecar.test.internal:7070',
    },
    journal: {
      watched: {
        'mcp/API_TOKEN': {
          validator: { type: 'enum', values: ['x'] },
          readers: [{ service: 'api', reads: 'at-start' }],
          secure: true,
        },
      },
    },
  }),
  'bucket',
  'journal',
);

let dynamo: LocalDynamo;
let table = 0;
const ecs = mockClient(ECSClient);
const ssm = mockClient(SSMClient);

beforeAll(async () => {
  dynamo = await LocalDynamo.start();
});
afterAll(async () => {
  await dynamo.close();
});

async function setup() {
  const name = `journal-${table++}`;
  await dynamo.createJournalTable(name);
  const store = new DynamoJournalStore(dynamo.client, name);
  const deps = fakeDeps({ config: { ...config, journal: { ...config.journal!, table: name } } });
  return {
    store,
    deps: {
      ...deps,
      journal: store,
      deployments: new EcsDeploymentHistory(new ECSClient({ region: 'eu-west-1' }), CLUSTER),
      parameterHistory: new SsmParameterHistory(new SSMClient({ region: 'eu-west-1' })),
    },
  };
}

function mockDeployment(from: number, to: number) {
  ecs.on(ListServiceDeploymentsCommand).resolves({
    serviceDeployments: [
      { serviceDeploymentArn: `${DEPLOYMENT_ARN}-older`, createdAt: new Date('2025-03-01T08:00:00Z') },
      { serviceDeploymentArn: DEPLOYMENT_ARN, createdAt: new Date('2025-03-01T09:59:00Z') },
    ],
  });
  ecs.on(DescribeServiceDeploymentsCommand).resolves({
    serviceDeployments: [
      {
        serviceDeploymentArn: DEPLOYMENT_ARN,
        sourceServiceRevisions: [{ arn: 'rev-from', runningTaskCount: 2 }],
        targetServiceRevision: { arn: 'rev-to' },
      },
    ],
  });
  ecs.on(DescribeServiceRevisionsCommand).resolves({
    serviceRevisions: [
      { serviceRevisionArn: 'rev-from', taskDefinition: TD(from) },
      { serviceRevisionArn: 'rev-to', taskDefinition: TD(to) },
    ],
  });
}

function mockHistory(
  name: string,
  versions: { v: number; value: string; at: string; by?: string; type?: 'String' | 'SecureString' }[],
) {
  ssm.on(GetParameterHistoryCommand, { Name: name }).resolves({
    Parameters: versions.map((x) => ({
      Name: name,
      Type: x.type ?? 'String',
      Value: x.value,
      Version: x.v,
      LastModifiedDate: new Date(x.at),
      LastModifiedUser: x.by ?? 'arn:aws:iam::111122223333:user/alice',
    })),
  });
}

beforeEach(() => {
  ecs.reset();
  ssm.reset();
});

describe('journal: ECS Deployment State Change', () => {
  it('records a CI deploy of the API as a code change from the task definition in service to the new one', async () => {
    const { deps, store } = await setup();
    mockDeployment(1, 2);
    const event = ecsDeploymentEvent({
      id: 'ddca6449-b258-46c0-8653-e0e3a6EXAMPLE',
      time: '2025-03-01T10:00:00Z',
      cluster: CLUSTER,
      service: 'memory-api',
      deploymentId: 'ecs-svc/123',
    });
    const out = await invokeStep(journal, event, deps);
    expect(out).toMatchObject({ recorded: true, subject: 'service:api' });
    expect(ecs).toHaveReceivedCommandWith(ListServiceDeploymentsCommand, {
      cluster: CLUSTER,
      service: 'memory-api',
    });
    expect(ecs).toHaveReceivedCommandWith(DescribeServiceDeploymentsCommand, {
      serviceDeploymentArns: [DEPLOYMENT_ARN],
    });
    const entries = await store.list('test');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      environment: 'test',
      at: '2025-03-01T10:00:00.000Z',
      source: 'aws.ecs',
      sourceEventId: 'ddca6449-b258-46c0-8653-e0e3a6EXAMPLE',
      kind: 'code',
      subject: 'service:api',
      change: {
        type: 'deployment',
        service: 'api',
        serviceName: 'memory-api',
        deploymentId: 'ecs-svc/123',
        serviceDeploymentArn: DEPLOYMENT_ARN,
        state: 'IN_PROGRESS',
        rollback: false,
        from: TD(1),
        to: TD(2),
      },
    });
    // TTL: 90 days after it was recorded (the fake clock).
    expect(entries[0]?.expiresAt).toBe(Date.parse('2025-03-01T10:00:00Z') / 1000 + 90 * 86_400);
  });

  it('marks an ECS circuit-breaker rollback and a completed and failed deployment by state', async () => {
    const { deps, store } = await setup();
    mockDeployment(2, 1);
    const base = { cluster: CLUSTER, service: 'memory-api', deploymentId: 'ecs-svc/124' };
    await invokeStep(
      journal,
      ecsDeploymentEvent({
        ...base,
        id: 'e-1',
        time: '2025-03-01T10:01:00Z',
        reason: 'ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/123.',
      }),
      deps,
    );
    await invokeStep(
      journal,
      ecsDeploymentEvent({
        ...base,
        id: 'e-2',
        time: '2025-03-01T10:02:00Z',
        eventName: 'SERVICE_DEPLOYMENT_FAILED',
      }),
      deps,
    );
    await invokeStep(
      journal,
      ecsDeploymentEvent({
        ...base,
        id: 'e-3',
        time: '2025-03-01T10:03:00Z',
        eventName: 'SERVICE_DEPLOYMENT_COMPLETED',
      }),
      deps,
    );
    const changes = (await store.list('test')).map((e) => e.change);
    expect(changes.map((c) => c.type === 'deployment' && [c.state, c.rollback])).toEqual([
      ['IN_PROGRESS', true],
      ['FAILED', false],
      ['COMPLETED', false],
    ]);
  });

  it('a redelivered event changes nothing; events delivered out of order are kept in time order', async () => {
    const { deps, store } = await setup();
    mockDeployment(1, 2);
    const base = { cluster: CLUSTER, service: 'memory-api', deploymentId: 'ecs-svc/123' };
    const completed = ecsDeploymentEvent({
      ...base,
      id: 'late',
      time: '2025-03-01T10:05:00Z',
      eventName: 'SERVICE_DEPLOYMENT_COMPLETED',
    });
    const started = ecsDeploymentEvent({ ...base, id: 'early', time: '2025-03-01T10:00:00Z' });
    expect(await invokeStep(journal, completed, deps)).toMatchObject({ recorded: true });
    expect(await invokeStep(journal, started, deps)).toMatchObject({ recorded: true });
    const again = await invokeStep(journal, completed, deps);
    expect(again).toMatchObject({ recorded: false, duplicate: true, subject: 'service:api' });
    const entries = await store.list('test');
    expect(entries.map((e) => e.sourceEventId)).toEqual(['early', 'late']);
    expect(deps.log.lines.some((l) => l.message === 'journal: duplicate event, nothing changed')).toBe(true);
  });

  it('ignores a service that is not protected, or on another cluster, and writes nothing', async () => {
    const { deps, store } = await setup();
    const other = await invokeStep(
      journal,
      ecsDeploymentEvent({
        id: 'x',
        time: '2025-03-01T10:00:00Z',
        cluster: CLUSTER,
        service: 'billing',
        deploymentId: 'ecs-svc/9',
      }),
      deps,
    );
    expect(other).toEqual({
      recorded: false,
      duplicate: false,
      ignored: 'service billing is not a protected service',
    });
    const cluster = await invokeStep(
      journal,
      ecsDeploymentEvent({
        id: 'y',
        time: '2025-03-01T10:00:00Z',
        cluster: 'other',
        service: 'memory-api',
        deploymentId: 'ecs-svc/9',
      }),
      deps,
    );
    expect(cluster).toMatchObject({
      recorded: false,
      ignored: expect.stringMatching(/cluster other, not memory-test/),
    });
    expect(await store.list('test')).toEqual([]);
    expect(ecs).not.toHaveReceivedCommand(ListServiceDeploymentsCommand);
  });
});

describe('journal: Parameter Store Change', () => {
  it('records a hand-made change of AUTONOMOUS_MODE: previous and new version and value, who', async () => {
    const { deps, store } = await setup();
    mockHistory(AUTONOMOUS, [
      { v: 1, value: 'false', at: '2025-03-01T08:00:00Z', by: 'arn:aws:iam::111122223333:role/deployer' },
      { v: 2, value: 'true', at: '2025-03-01T09:59:59Z' },
    ]);
    const event = parameterStoreEvent({
      id: '6a7e4feb-b491-4cf7-a9f1-bf3703497718',
      time: '2025-03-01T10:00:00Z',
      name: AUTONOMOUS,
    });
    expect(await invokeStep(journal, event, deps)).toMatchObject({
      recorded: true,
      subject: 'parameter:mcp/AUTONOMOUS_MODE',
    });
    expect(ssm).toHaveReceivedCommandWith(GetParameterHistoryCommand, {
      Name: AUTONOMOUS,
      WithDecryption: false,
    });
    const [entry] = await store.list('test');
    expect(entry).toMatchObject({
      kind: 'config',
      subject: 'parameter:mcp/AUTONOMOUS_MODE',
      actor: 'arn:aws:iam::111122223333:user/alice',
      change: {
        type: 'parameter',
        key: 'mcp/AUTONOMOUS_MODE',
        name: AUTONOMOUS,
        operation: 'Update',
        parameterType: 'String',
        fromVersion: 1,
        toVersion: 2,
        fromValue: 'false',
        toValue: 'true',
        invalid: null,
      },
    });
  });

  it('pins each event to the version it announced, even delivered out of order, and flags an invalid value', async () => {
    const { deps, store } = await setup();
    const workers = '/memory/test/mcp/WORKERS';
    mockHistory(workers, [
      { v: 1, value: '4', at: '2025-03-01T08:00:00Z' },
      { v: 2, value: '8', at: '2025-03-01T10:00:00Z' },
      { v: 3, value: 'eight', at: '2025-03-01T10:10:00Z' },
    ]);
    await invokeStep(
      journal,
      parameterStoreEvent({ id: 'third', time: '2025-03-01T10:10:01Z', name: workers }),
      deps,
    );
    await invokeStep(
      journal,
      parameterStoreEvent({ id: 'second', time: '2025-03-01T10:00:01Z', name: workers }),
      deps,
    );
    const changes = (await store.list('test')).map((e) => e.change);
    expect(changes).toMatchObject([
      { fromVersion: 1, toVersion: 2, fromValue: '4', toValue: '8', invalid: null },
      { fromVersion: 2, toVersion: 3, fromValue: '8', toValue: 'eight', invalid: 'not an integer' },
    ]);
  });

  it('a SecureString: only versions are recorded; the value is never requested decrypted nor stored', async () => {
    const { deps, store } = await setup();
    const token = '/memory/test/mcp/API_TOKEN';
    mockHistory(token, [
      { v: 4, value: `${CIPHERTEXT}-4`, at: '2025-03-01T08:00:00Z', type: 'SecureString' },
      { v: 5, value: `${CIPHERTEXT}-5`, at: '2025-03-01T09:00:00Z', type: 'SecureString' },
    ]);
    await invokeStep(
      journal,
      parameterStoreEvent({ id: 's', time: '2025-03-01T09:00:02Z', name: token, type: 'SecureString' }),
      deps,
    );
    expect(ssm).toHaveReceivedCommandWith(GetParameterHistoryCommand, { Name: token, WithDecryption: false });
    const entries = await store.list('test');
    expect(entries[0]?.change).toMatchObject({
      parameterType: 'SecureString',
      fromVersion: 4,
      toVersion: 5,
      fromValue: null,
      toValue: null,
      invalid: null,
    });
    const everything = JSON.stringify({ entries, log: deps.log.lines });
    expect(everything).not.toContain(CIPHERTEXT);
  });

  it('an unknown parameter, or a label, is ignored without reading its history', async () => {
    const { deps, store } = await setup();
    expect(
      await invokeStep(
        journal,
        parameterStoreEvent({ id: 'u', time: '2025-03-01T10:00:00Z', name: '/memory/test/other' }),
        deps,
      ),
    ).toEqual({ recorded: false, duplicate: false, ignored: 'parameter /memory/test/other is not watched' });
    expect(
      await invokeStep(
        journal,
        parameterStoreEvent({
          id: 'l',
          time: '2025-03-01T10:00:00Z',
          name: AUTONOMOUS,
          operation: 'LabelParameterVersion',
        }),
        deps,
      ),
    ).toMatchObject({ recorded: false, ignored: expect.stringMatching(/label/) });
    expect(ssm).not.toHaveReceivedCommand(GetParameterHistoryCommand);
    expect(await store.list('test')).toEqual([]);
  });

  it('a deleted parameter is recorded with no versions (its history is gone)', async () => {
    const { deps, store } = await setup();
    ssm.on(GetParameterHistoryCommand).rejects(new ParameterNotFound({ message: 'gone', $metadata: {} }));
    await invokeStep(
      journal,
      parameterStoreEvent({ id: 'd', time: '2025-03-01T10:00:00Z', name: AUTONOMOUS, operation: 'Delete' }),
      deps,
    );
    expect((await store.list('test'))[0]?.change).toMatchObject({
      operation: 'Delete',
      fromVersion: null,
      toVersion: null,
      toValue: null,
    });
  });
});

describe('journal: input', () => {
  it('refuses another event shape with InvalidInputError and writes nothing', async () => {
    const { deps, store } = await setup();
    await expect(
      invokeStep(journal, { source: 'aws.ecs', 'detail-type': 'ECS Task State Change', detail: {} }, deps),
    ).rejects.toBeInstanceOf(InvalidInputError);
    expect(await store.list('test')).toEqual([]);
  });

  it('lists a time range of the environment only', async () => {
    const { deps, store } = await setup();
    mockHistory(AUTONOMOUS, [
      { v: 1, value: 'false', at: '2025-03-01T08:00:00Z' },
      { v: 2, value: 'true', at: '2025-03-01T09:00:00Z' },
      { v: 3, value: 'false', at: '2025-03-01T11:00:00Z' },
    ]);
    await invokeStep(
      journal,
      parameterStoreEvent({ id: 'a', time: '2025-03-01T09:00:01Z', name: AUTONOMOUS }),
      deps,
    );
    await invokeStep(
      journal,
      parameterStoreEvent({ id: 'b', time: '2025-03-01T11:00:01Z', name: AUTONOMOUS }),
      deps,
    );
    const since = await store.list('test', { since: new Date('2025-03-01T10:00:00Z') });
    expect(since.map((e) => e.sourceEventId)).toEqual(['b']);
    const until = await store.list('test', { until: new Date('2025-03-01T10:00:00Z') });
    expect(until.map((e) => e.sourceEventId)).toEqual(['a']);
    expect(await store.list('prod')).toEqual([]);
  });
});

describe("journal: Switchback's own changes", () => {
  it('a change record becomes an entry when opened and another when closed; re-running either changes nothing', async () => {
    const { deps, store } = await setup();
    const open = {
      action: 'open',
      changeId: 'co-1',
      procedure: 'provider-cutover',
      executionId: 'arn:aws:states:eu-west-1:111122223333:execution:provider-cutover:co-1',
      reason: 'move to mem0',
      requestedBy: 'alice',
      target: [{ name: 'memory/provider', value: 'http' }],
    };
    await invokeStep(changeRecord, open, deps);
    await invokeStep(changeRecord, open, deps);
    deps.clock.set('2025-03-01T10:05:00.000Z');
    const close = { action: 'close', changeId: 'co-1', status: 'completed', executionId: open.executionId };
    await invokeStep(changeRecord, close, deps);
    await invokeStep(changeRecord, close, deps);
    const entries = await store.list('test');
    expect(entries.map((e) => [e.at, e.source, e.subject, e.kind, e.actor])).toEqual([
      ['2025-03-01T10:00:00.000Z', 'switchback', 'procedure:provider-cutover', 'config', 'alice'],
      ['2025-03-01T10:05:00.000Z', 'switchback', 'procedure:provider-cutover', 'config', 'alice'],
    ]);
    expect(entries[0]?.change).toEqual({
      type: 'procedure',
      procedure: 'provider-cutover',
      changeId: 'co-1',
      status: 'open',
      flags: [{ name: 'memory/provider', from: 'native', to: 'http' }],
      taskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/api:7',
    });
    expect(entries[1]?.change).toMatchObject({ status: 'completed' });
  });
});

describe('journal: verified backups are restore points', () => {
  it('the newest verified backup becomes one entry, however often retention runs; unverified ones never do', async () => {
    const { deps, store } = await setup();
    const manifest = (backupId: string, takenAt: string, verified: boolean) => ({
      schemaVersion: 1 as const,
      backupId,
      environment: 'test',
      store: 'postgres' as const,
      database: 'memory',
      objectKey: objectKeyOf('test', 'postgres', 'memory', backupId),
      format: 'pg_dump-custom' as const,
      serverVersion: '15.18',
      sizeBytes: 1234,
      sha256: 'a'.repeat(64),
      rowCounts: { 'public.memories': 3 },
      purpose: 'scheduled' as const,
      reason: 'nightly',
      executionId: 'arn:x',
      takenAt,
      durationMs: 10,
      verification: verified
        ? { status: 'passed' as const, method: 'pg_restore-scratch' as const, at: takenAt, detail: 'ok' }
        : null,
    });
    await writeManifest(deps.blobs, manifest('b-1', '2025-03-01T03:00:00.000Z', true));
    await writeManifest(deps.blobs, manifest('b-2', '2025-03-01T04:00:00.000Z', false));
    const retain = { action: 'retain', store: 'postgres', database: 'memory' };
    await invokeStep(backupCatalog, retain, deps);
    await invokeStep(backupCatalog, retain, deps);
    const entries = await store.list('test');
    expect(entries.map((e) => [e.at, e.kind, e.subject, e.change])).toEqual([
      [
        '2025-03-01T03:00:00.000Z',
        'data',
        'backup:postgres/memory',
        {
          type: 'backup',
          store: 'postgres',
          database: 'memory',
          backupId: 'b-1',
          objectKey: objectKeyOf('test', 'postgres', 'memory', 'b-1'),
        },
      ],
    ]);
  });
});
