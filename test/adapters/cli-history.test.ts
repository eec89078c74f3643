import { SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { showHistory } from '../../cli/aws';
import { DynamoJournalStore } from '../../functions/shared/adapters/dynamodb-journal-store';
import { type JournalChange, newEntry } from '../../functions/shared/journal';
import { LocalDynamo } from '../../local/adapters/lock-table';

const TABLE = 'switchback-prod-journal';
let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await LocalDynamo.start();
  await dynamo.createJournalTable(TABLE);
  const store = new DynamoJournalStore(dynamo.client, TABLE);
  const put = (
    at: string,
    id: string,
    kind: 'code' | 'config' | 'data',
    subject: string,
    change: JournalChange,
    actor: string | null = null,
  ) =>
    store.put(
      newEntry({
        environment: 'prod',
        at,
        source:
          change.type === 'deployment' ? 'aws.ecs' : change.type === 'parameter' ? 'aws.ssm' : 'switchback',
        sourceEventId: id,
        kind,
        subject,
        actor,
        change,
        now: new Date(at),
        retentionDays: 90,
      }),
    );
  await put('2026-11-20T03:00:00.000Z', 'b', 'data', 'backup:postgres/memory', {
    type: 'backup',
    store: 'postgres',
    database: 'memory',
    backupId: 'nightly-1',
    objectKey: 'backups/prod/postgres/memory/nightly-1.dump',
  });
  await put('2026-11-20T10:00:00.000Z', 'd', 'code', 'service:api', {
    type: 'deployment',
    service: 'api',
    serviceName: 'memory-api',
    deploymentId: 'ecs-svc/42',
    serviceDeploymentArn: null,
    state: 'IN_PROGRESS',
    rollback: false,
    from: 'arn:aws:ecs:eu-west-1:111122223333:task-definition/memory-api:1',
    to: 'arn:aws:ecs:eu-west-1:111122223333:task-definition/memory-api:2',
  });
  await put(
    '2026-11-20T11:00:00.000Z',
    'p',
    'config',
    'parameter:mcp/AUTONOMOUS_MODE',
    {
      type: 'parameter',
      key: 'mcp/AUTONOMOUS_MODE',
      name: '/memory/prod/mcp/AUTONOMOUS_MODE',
      operation: 'Update',
      parameterType: 'String',
      fromVersion: 3,
      toVersion: 4,
      fromValue: 'false',
      toValue: 'true',
      invalid: null,
    },
    'arn:aws:iam::111122223333:user/alice',
  );
});
afterAll(async () => {
  await dynamo.close();
});

function clients() {
  const ssm = mockClient(SSMClient);
  ssm
    .on(GetParameterCommand, { Name: '/switchback/prod/journal-table' })
    .resolves({ Parameter: { Value: TABLE } });
  return {
    ssm: new SSMClient({ region: 'eu-west-1' }),
    sfn: new SFNClient({ region: 'eu-west-1' }),
    dynamodb: dynamo.client,
  };
}

describe('switchback history', () => {
  it('lists the journal the stack published, newest first: from what to what, and who', async () => {
    const lines: string[] = [];
    expect(
      await showHistory({ env: 'prod', limit: 50, write: (l) => lines.push(l), clients: clients() }),
    ).toBe(0);
    expect(lines[0]).toMatch(/^time\s+source\s+kind\s+subject\s+change$/);
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(
        /^2026-11-20T11:00:00.000Z {2}aws\.ssm +config parameter:mcp\/AUTONOMOUS_MODE +Update v3 "false" -> v4 "true" {2}by arn:aws:iam::111122223333:user\/alice$/,
      ),
      expect.stringMatching(
        /^2026-11-20T10:00:00.000Z {2}aws\.ecs +code +service:api +memory-api:1 -> memory-api:2 {2}IN_PROGRESS {2}ecs-svc\/42$/,
      ),
      expect.stringMatching(
        /^2026-11-20T03:00:00.000Z {2}switchback data +backup:postgres\/memory +restore point nightly-1$/,
      ),
    ]);
  });

  it('since a time, and a limit that says what it left out', async () => {
    const lines: string[] = [];
    await showHistory({
      env: 'prod',
      since: new Date('2026-11-20T09:00:00.000Z'),
      limit: 1,
      write: (l) => lines.push(l),
      clients: clients(),
    });
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/parameter:mcp\/AUTONOMOUS_MODE/),
      '(1 older entries not shown: --limit)',
    ]);
    const none: string[] = [];
    await showHistory({
      env: 'prod',
      since: new Date('2027-01-01T00:00:00.000Z'),
      limit: 5,
      write: (l) => none.push(l),
      clients: clients(),
    });
    expect(none).toEqual(['no journal entries in prod since 2027-01-01T00:00:00.000Z']);
  });
});
