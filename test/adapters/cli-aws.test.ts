import 'aws-sdk-client-mock-vitest/extend';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand, GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  type AwsClients,
  describeEntry,
  type StartOptions,
  showStatus,
  startExecution,
  unlock,
} from '../../cli/aws';
import { EVENT_STARTED, START_INPUTS } from '../../cli/inputs';
import { newEntry } from '../../functions/shared/journal';
import { PROCEDURES } from '../../procedures/index';

const clients: AwsClients = {
  ssm: new SSMClient({ region: 'eu-west-1' }),
  sfn: new SFNClient({ region: 'eu-west-1' }),
  dynamodb: new DynamoDBClient({ region: 'eu-west-1' }),
};
const ssm = mockClient(clients.ssm);
const sfn = mockClient(clients.sfn);
const ddb = mockClient(clients.dynamodb);

let out: string[];
const write = (line: string) => out.push(line);
beforeEach(() => {
  ssm.reset();
  sfn.reset();
  ddb.reset();
  out = [];
});

const SM_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:switchback-prod-provider-cutover';
const EXEC_ARN = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-prod-provider-cutover:co-1';

/** `startExecution` of provider-cutover in prod, not waiting, with the mocked clients. */
const startCutover = (o: Partial<StartOptions> = {}) =>
  startExecution({
    procedure: 'provider-cutover',
    env: 'prod',
    input: { reason: 'CHG-1' },
    wait: false,
    clients,
    write,
    ...o,
  });

describe('startExecution', () => {
  beforeEach(() => {
    ssm.on(GetParameterCommand, { Name: '/switchback/prod/procedures/provider-cutover' }).resolves({
      Parameter: { Value: SM_ARN },
    });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC_ARN });
  });

  it('reads the state machine from discovery and starts it with the JSON input', async () => {
    const input = { reason: 'move to mem0', requestedBy: 'alice' };
    const code = await startCutover({ input, name: 'co-1' });
    expect(code).toBe(0);
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: SM_ARN,
      input: JSON.stringify(input),
      name: 'co-1',
    });
    expect(sfn).not.toHaveReceivedCommand(DescribeExecutionCommand);
    expect(out).toEqual([`started ${EXEC_ARN}`]);
  });

  it('lets Step Functions name the execution when no name is given', async () => {
    await startCutover();
    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input).not.toHaveProperty('name');
  });

  it('with --wait, polls until SUCCEEDED and exits 0 with the output', async () => {
    sfn
      .on(DescribeExecutionCommand, { executionArn: EXEC_ARN })
      .resolvesOnce({ status: 'RUNNING' })
      .resolvesOnce({ status: 'RUNNING' })
      .resolves({ status: 'SUCCEEDED', output: '{"outcome":"cutover-succeeded"}' });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const code = await startCutover({ wait: true, pollMs: 1 });
    expect(code).toBe(0);
    expect(sfn).toHaveReceivedCommandTimes(DescribeExecutionCommand, 3);
    // The live view of `switchback watch`: the console link, then how it ended and its output.
    expect(out).toEqual([
      `started ${EXEC_ARN}`,
      `console https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${EXEC_ARN}`,
      'ended SUCCEEDED',
      '{"outcome":"cutover-succeeded"}',
    ]);
  });

  it('with --wait, exits 1 on FAILED, printing the error and cause', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' })
      .resolves({ status: 'FAILED', error: 'CutoverRolledBackError', cause: 'api not healthy' });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const code = await startCutover({ wait: true, pollMs: 1 });
    expect(code).toBe(1);
    expect(out).toContain('ended FAILED CutoverRolledBackError: api not healthy');
  });

  it('refuses to start when the stack is not deployed for the environment', async () => {
    ssm.reset();
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: '' } });
    await expect(startCutover()).rejects.toThrow('is the Switchback stack deployed for this environment?');
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });
});

describe('startExecution: validate first, then confirm, then start', () => {
  const asked: string[] = [];
  beforeEach(() => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: SM_ARN } });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC_ARN });
    asked.length = 0;
  });
  const confirm = (answer: boolean) => async (what: string) => {
    asked.push(what);
    return answer;
  };
  it.each([
    ['a missing reason', 'provider-cutover', {}, /provider-cutover input \(nothing was started\): .*reason/],
    ['an unknown field', 'provider-rollback', { reason: 'x', changeid: 'typo' }, /changeid/],
    ['a canary of 100 %', 'feature-rollout', { reason: 'x', canaryPercent: 100 }, /canaryPercent/],
    [
      'an unknown procedure',
      'provider-cutovr',
      { reason: 'x' },
      /provider-cutovr is not a procedure; an operator starts one of: provider-cutover, /,
    ],
    [
      'an event-started procedure',
      'rollback-router',
      {},
      /rollback-router is started by EventBridge, not by hand/,
    ],
  ])(
    'refuses %s with InvalidInputError (exit 2) before any AWS call or question',
    async (_n, procedure, input, why) => {
      const code = await startExecution({
        procedure,
        env: 'prod',
        input,
        wait: false,
        clients,
        write,
        confirm: confirm(true),
      });
      expect(code).toBe(2);
      expect(out).toHaveLength(1);
      expect(out[0]).toMatch(/^InvalidInputError: /);
      expect(out[0]).toMatch(why);
      expect(asked).toEqual([]);
      expect(ssm).not.toHaveReceivedAnyCommand();
      expect(sfn).not.toHaveReceivedAnyCommand();
    },
  );

  it('asks once the input is valid; not confirmed starts nothing (exit 1)', async () => {
    const code = await startCutover({ confirm: confirm(false) });
    expect(code).toBe(1);
    expect(asked).toEqual(['Start provider-cutover']);
    expect(out).toEqual(['Not confirmed: nothing was started in prod.']);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('confirmed: starts it with the input as given', async () => {
    const input = { reason: 'CHG-1', requestedBy: 'alice' };
    const code = await startCutover({ input, confirm: confirm(true) });
    expect(code).toBe(0);
    expect(asked).toEqual(['Start provider-cutover']);
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, { input: JSON.stringify(input) });
  });

  it('knows the input schema of every procedure an operator starts, and only those', () => {
    expect([...Object.keys(START_INPUTS), ...EVENT_STARTED].sort()).toEqual(Object.keys(PROCEDURES).sort());
  });
});

describe('unlock', () => {
  const OWNER = EXEC_ARN;
  beforeEach(() => {
    ssm.on(GetParameterCommand, { Name: '/switchback/prod/lock-table' }).resolves({
      Parameter: { Value: 'switchback-prod-lock' },
    });
  });

  it('deletes the lock only on the condition that the named execution owns it', async () => {
    ddb.on(DeleteItemCommand).resolves({});
    await expect(unlock({ env: 'prod', owner: OWNER, clients, write })).resolves.toBe(0);
    expect(ddb).toHaveReceivedCommandWith(DeleteItemCommand, {
      TableName: 'switchback-prod-lock',
      Key: { pk: { S: 'prod' } },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': { S: OWNER } },
    });
    expect(out).toEqual([`Released the prod lock held by ${OWNER}.`]);
  });

  it('reports "not held" and exits 1 when someone else holds the lock (or nobody)', async () => {
    ddb
      .on(DeleteItemCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'failed', $metadata: {} }));
    await expect(unlock({ env: 'prod', owner: OWNER, clients, write })).resolves.toBe(1);
    expect(out).toEqual([`The prod lock is not held by ${OWNER}; nothing released.`]);
  });

  it('lets other DynamoDB errors through', async () => {
    ddb.on(DeleteItemCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(unlock({ env: 'prod', owner: OWNER, clients, write })).rejects.toThrow('denied');
    expect(out).toEqual([]);
  });
});

describe('showStatus', () => {
  const CUTOVER_SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:switchback-prod-provider-cutover';
  const JANITOR_SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:switchback-prod-lock-janitor';
  const ROUTER = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-prod-rollback-router:inc-7';
  function parameters(extra: { Name: string; Type: 'String'; Value: string; Version: number }[] = []) {
    ssm
      .on(GetParametersByPathCommand, { Path: '/switchback/prod', Recursive: true })
      .resolvesOnce({
        NextToken: 'page-2',
        Parameters: [
          { Name: '/switchback/prod/memory/provider', Type: 'String', Value: 'http', Version: 4 },
          { Name: '/switchback/prod/maintenance-mode', Type: 'String', Value: 'off', Version: 2 },
          {
            Name: '/switchback/prod/secrets/sidecar-api-key',
            Type: 'SecureString',
            Value: 'sk-should-not-print',
            Version: 1,
          },
        ],
      })
      .resolves({
        Parameters: [
          {
            Name: '/switchback/prod/memory/http-base',
            Type: 'String',
            Value: 'https://mem0.internal',
            Version: 3,
          },
          { Name: '/switchback/prod/lock-table', Type: 'String', Value: 'switchback-prod-lock', Version: 1 },
          ...extra,
        ],
      });
  }
  const lockItem = {
    Item: {
      pk: { S: 'prod' },
      owner: { S: EXEC_ARN },
      status: { S: 'needs-operator' },
      procedure: { S: 'provider-cutover' },
    },
  };

  it('prints every flag with its version, MISSING ones, the kill switch, the lock, and nothing running', async () => {
    parameters();
    ddb.on(GetItemCommand, { Key: { pk: { S: 'prod' } } }).resolves(lockItem);
    ddb.on(GetItemCommand, { Key: { pk: { S: 'prod#incident' } } }).resolves({});
    await expect(showStatus({ env: 'prod', clients, write })).resolves.toBe(0);
    expect(out).toEqual([
      'environment prod',
      `  ${'memory/provider'.padEnd(20)} http  (v4)`,
      `  ${'memory/http-base'.padEnd(20)} https://mem0.internal  (v3)`,
      `  ${'maintenance-mode'.padEnd(20)} off  (v2)`,
      `  ${'automation/paused'.padEnd(20)} MISSING`,
      `  ${'features/memory-context'.padEnd(20)} MISSING`,
      `  ${'database/active'.padEnd(20)} MISSING`,
      `  ${'kill switch'.padEnd(20)} UNKNOWN (automation/paused is missing)`,
      `  lock                 needs-operator by ${EXEC_ARN} (provider-cutover)`,
      `  ${'incident'.padEnd(20)} none`,
      `  ${'running'.padEnd(20)} nothing`,
      `  ${'last change'.padEnd(20)} unknown (no change journal in this environment)`,
    ]);
    expect(out.join('\n')).not.toContain('sk-should-not-print');
    // The SDK's paginator followed the second page (memory/http-base came from it).
    expect(ssm).toHaveReceivedCommandTimes(GetParametersByPathCommand, 2);
    expect(ddb).toHaveReceivedCommandWith(GetItemCommand, {
      TableName: 'switchback-prod-lock',
      Key: { pk: { S: 'prod' } },
      ConsistentRead: true,
    });
  });

  it('with the kill switch on, an open incident, running executions and a journaled last change', async () => {
    parameters([
      { Name: '/switchback/prod/automation/paused', Type: 'String', Value: 'true', Version: 5 },
      {
        Name: '/switchback/prod/journal-table',
        Type: 'String',
        Value: 'switchback-prod-journal',
        Version: 1,
      },
      { Name: '/switchback/prod/procedures/provider-cutover', Type: 'String', Value: CUTOVER_SM, Version: 1 },
      { Name: '/switchback/prod/procedures/lock-janitor', Type: 'String', Value: JANITOR_SM, Version: 1 },
    ]);
    ddb.on(GetItemCommand, { Key: { pk: { S: 'prod' } } }).resolves({});
    ddb.on(GetItemCommand, { Key: { pk: { S: 'prod#incident' } } }).resolves({
      Item: {
        pk: { S: 'prod#incident' },
        status: { S: 'open' },
        incidentId: { S: 'inc-7' },
        owner: { S: ROUTER },
      },
    });
    sfn.on(ListExecutionsCommand, { stateMachineArn: CUTOVER_SM, statusFilter: 'RUNNING' }).resolves({
      executions: [
        {
          executionArn: EXEC_ARN,
          stateMachineArn: CUTOVER_SM,
          name: 'co-1',
          status: 'RUNNING',
          startDate: new Date('2026-11-22T10:00:00.000Z'),
        },
      ],
    });
    const entry = newEntry({
      environment: 'prod',
      at: '2026-11-22T09:30:00.000Z',
      source: 'aws.ssm',
      sourceEventId: 'p-1',
      kind: 'config',
      subject: 'parameter:memory/provider',
      actor: 'arn:aws:iam::123456789012:user/alice',
      change: {
        type: 'parameter',
        key: 'memory/provider',
        name: '/switchback/prod/memory/provider',
        operation: 'Update',
        parameterType: 'String',
        fromVersion: 3,
        toVersion: 4,
        fromValue: 'native',
        toValue: 'http',
        invalid: null,
      },
      now: new Date('2026-11-22T09:30:00.000Z'),
      retentionDays: 90,
    });
    ddb
      .on(QueryCommand)
      .resolves({ Items: [{ sk: { S: entry.entryId }, entry: { S: JSON.stringify(entry) } }] });

    await expect(showStatus({ env: 'prod', clients, write })).resolves.toBe(0);
    expect(out.slice(-5)).toEqual([
      `  ${'kill switch'.padEnd(20)} ON: rollback alarms only notify; rollouts do not advance (switchback resume)`,
      '  lock                 free',
      `  ${'incident'.padEnd(20)} OPEN inc-7 handled by ${ROUTER}`,
      `  ${'running'.padEnd(20)} provider-cutover co-1 since 2026-11-22T10:00:00.000Z  ${EXEC_ARN}`,
      `  ${'last change'.padEnd(20)} ${describeEntry(entry)}`,
    ]);
    // The janitor is never listed as running work; the journal is read newest first, one entry.
    expect(sfn).not.toHaveReceivedCommandWith(ListExecutionsCommand, { stateMachineArn: JANITOR_SM });
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, {
      TableName: 'switchback-prod-journal',
      ScanIndexForward: false,
      Limit: 1,
    });
  });

  it('exits 1 when the lock table is not published', async () => {
    ssm.on(GetParametersByPathCommand).resolves({ Parameters: [] });
    await expect(showStatus({ env: 'prod', clients, write })).resolves.toBe(1);
    expect(out.at(-1)).toContain('unknown (no lock-table parameter)');
    expect(ddb).not.toHaveReceivedCommand(GetItemCommand);
  });
});
