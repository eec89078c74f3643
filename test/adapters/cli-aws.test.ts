import 'aws-sdk-client-mock-vitest/extend';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand, GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type AwsClients, showStatus, startExecution, unlock } from '../../cli/aws';

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

describe('startExecution', () => {
  beforeEach(() => {
    ssm.on(GetParameterCommand, { Name: '/switchback/prod/procedures/provider-cutover' }).resolves({
      Parameter: { Value: SM_ARN },
    });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC_ARN });
  });

  it('reads the state machine from discovery and starts it with the JSON input', async () => {
    const input = { reason: 'move to mem0', requestedBy: 'alice' };
    const code = await startExecution({
      procedure: 'provider-cutover',
      env: 'prod',
      input,
      name: 'co-1',
      wait: false,
      clients,
      write,
    });
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
    await startExecution({
      procedure: 'provider-cutover',
      env: 'prod',
      input: {},
      wait: false,
      clients,
      write,
    });
    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input).not.toHaveProperty('name');
  });

  it('with --wait, polls until SUCCEEDED and exits 0 with the output', async () => {
    sfn
      .on(DescribeExecutionCommand, { executionArn: EXEC_ARN })
      .resolvesOnce({ status: 'RUNNING' })
      .resolvesOnce({ status: 'RUNNING' })
      .resolves({ status: 'SUCCEEDED', output: '{"outcome":"cutover-succeeded"}' });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const code = await startExecution({
      procedure: 'provider-cutover',
      env: 'prod',
      input: {},
      wait: true,
      pollMs: 1,
      clients,
      write,
    });
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
    const code = await startExecution({
      procedure: 'provider-cutover',
      env: 'prod',
      input: {},
      wait: true,
      pollMs: 1,
      clients,
      write,
    });
    expect(code).toBe(1);
    expect(out).toContain('ended FAILED CutoverRolledBackError: api not healthy');
  });

  it('refuses to start when the stack is not deployed for the environment', async () => {
    ssm.reset();
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: '' } });
    await expect(
      startExecution({ procedure: 'provider-cutover', env: 'prod', input: {}, wait: false, clients, write }),
    ).rejects.toThrow('is the Switchback stack deployed for this environment?');
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
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
  function parameters() {
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
        ],
      });
  }

  it('prints every flag with its version, MISSING ones, and the lock holder', async () => {
    parameters();
    ddb.on(GetItemCommand).resolves({
      Item: {
        pk: { S: 'prod' },
        owner: { S: EXEC_ARN },
        status: { S: 'needs-operator' },
        procedure: { S: 'provider-cutover' },
      },
    });
    await expect(showStatus({ env: 'prod', clients, write })).resolves.toBe(0);
    expect(out).toEqual([
      'environment prod',
      `  ${'memory/provider'.padEnd(20)} http  (v4)`,
      `  ${'memory/http-base'.padEnd(20)} https://mem0.internal  (v3)`,
      `  ${'maintenance-mode'.padEnd(20)} off  (v2)`,
      `  ${'automation/paused'.padEnd(20)} MISSING`,
      `  ${'features/memory-context'.padEnd(20)} MISSING`,
      `  ${'database/active'.padEnd(20)} MISSING`,
      `  lock                 needs-operator by ${EXEC_ARN} (provider-cutover)`,
    ]);
    expect(out.join('\n')).not.toContain('sk-should-not-print');
    expect(ssm.commandCalls(GetParametersByPathCommand).map((c) => c.args[0].input.NextToken)).toEqual([
      undefined,
      'page-2',
    ]);
    expect(ddb).toHaveReceivedCommandWith(GetItemCommand, {
      TableName: 'switchback-prod-lock',
      Key: { pk: { S: 'prod' } },
      ConsistentRead: true,
    });
  });

  it('prints a free lock', async () => {
    parameters();
    ddb.on(GetItemCommand).resolves({});
    await expect(showStatus({ env: 'prod', clients, write })).resolves.toBe(0);
    expect(out.at(-1)).toBe('  lock                 free');
  });

  it('exits 1 when the lock table is not published', async () => {
    ssm.on(GetParametersByPathCommand).resolves({ Parameters: [] });
    await expect(showStatus({ env: 'prod', clients, write })).resolves.toBe(1);
    expect(out.at(-1)).toContain('unknown (no lock-table parameter)');
    expect(ddb).not.toHaveReceivedCommand(GetItemCommand);
  });
});
