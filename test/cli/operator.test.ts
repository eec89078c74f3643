import 'aws-sdk-client-mock-vitest/extend';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  GetParameterCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  abort,
  describeExecution,
  listExecutions,
  type OperatorClients,
  OperatorCommandError,
  setPaused,
  watch,
  whereNow,
} from '../../cli/operator';
import { explain } from '../../cli/operator-commands';

const clients: OperatorClients = {
  ssm: new SSMClient({ region: 'eu-west-1' }),
  sfn: new SFNClient({ region: 'eu-west-1' }),
  dynamodb: new DynamoDBClient({ region: 'eu-west-1' }),
};
const ssm = mockClient(clients.ssm);
const sfn = mockClient(clients.sfn);
const ddb = mockClient(clients.dynamodb);
let out: string[];
const common = () => ({ env: 'prod', clients, write: (l: string) => out.push(l), sleep: async () => {} });
beforeEach(() => {
  ssm.reset();
  sfn.reset();
  ddb.reset();
  out = [];
});

const ACCOUNT = 'arn:aws:states:eu-west-1:123456789012';
const sm = (p: string) => `${ACCOUNT}:stateMachine:switchback-prod-${p}`;
const ex = (p: string, name: string) => `${ACCOUNT}:execution:switchback-prod-${p}:${name}`;
const CUTOVER = ex('provider-cutover', 'co-1');
const ROLLBACK = ex('provider-rollback', 'abort-co-1');
const t = (s: number) => new Date(Date.UTC(2026, 11, 1, 10, 0, s));
const ev = (id: number, second: number, type: HistoryEvent['type'], details: Partial<HistoryEvent> = {}) =>
  ({ id, previousEventId: id - 1, timestamp: t(second), type, ...details }) as HistoryEvent;
const entered = (name: string) => ({ stateEnteredEventDetails: { name, input: '{}' } });
const exited = (name: string, output = '{}') => ({ stateExitedEventDetails: { name, output } });
const started = ev(1, 0, 'ExecutionStarted', {
  executionStartedEventDetails: { input: '{"reason":"x"}', roleArn: 'arn:aws:iam::123456789012:role/r' },
});

function publishProcedures(names: string[]) {
  ssm.on(GetParametersByPathCommand, { Path: '/switchback/prod/procedures/' }).resolves({
    Parameters: names.map((n) => ({
      Name: `/switchback/prod/procedures/${n}`,
      Value: sm(n),
      Type: 'String',
    })),
  });
  for (const n of names)
    ssm
      .on(GetParameterCommand, { Name: `/switchback/prod/procedures/${n}` })
      .resolves({ Parameter: { Value: sm(n) } });
  ssm.on(GetParameterCommand, { Name: '/switchback/prod/lock-table' }).resolves({
    Parameter: { Value: 'switchback-prod-locks' },
  });
}

describe('watch', () => {
  it('follows the running execution and the rollback it starts until it ends, with what each state found', async () => {
    publishProcedures(['provider-cutover', 'provider-rollback', 'lock-janitor']);
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    sfn
      .on(ListExecutionsCommand, { stateMachineArn: sm('provider-cutover'), statusFilter: 'RUNNING' })
      .resolves({
        executions: [
          {
            executionArn: CUTOVER,
            stateMachineArn: sm('provider-cutover'),
            name: 'co-1',
            status: 'RUNNING',
            startDate: t(0),
          },
        ],
      });
    let polls = 0;
    sfn.on(DescribeExecutionCommand, { executionArn: CUTOVER }).callsFake(() => ({
      executionArn: CUTOVER,
      stateMachineArn: sm('provider-cutover'),
      name: 'co-1',
      status: polls++ < 2 ? 'RUNNING' : 'FAILED',
      error: polls > 2 ? 'CutoverRolledBackError' : undefined,
      startDate: t(0),
    }));
    const first = [
      started,
      ev(2, 1, 'TaskStateEntered', entered('VerifyApiProvider')),
      ev(
        3,
        2,
        'TaskStateExited',
        exited(
          'VerifyApiProvider',
          '{"verifyApi":{"target":"api","status":"ok","provider":"http","latencyMs":12}}',
        ),
      ),
      ev(4, 2, 'TaskStateEntered', entered('VerifyMemoryThroughApi')),
    ];
    const rest = [
      ev(5, 3, 'TaskFailed', {
        taskFailedEventDetails: {
          resourceType: 'lambda',
          resource: 'invoke',
          error: 'SmokeTestFailedError',
          cause: 'not recalled',
        },
      }),
      ev(6, 3, 'TaskStateEntered', entered('RollBack')),
      ev(7, 3, 'TaskSubmitted', {
        taskSubmittedEventDetails: {
          resourceType: 'states',
          resource: 'startExecution.sync:2',
          output: JSON.stringify({ ExecutionArn: ROLLBACK }),
        },
      }),
      ev(8, 9, 'TaskStateExited', exited('RollBack')),
      ev(9, 9, 'FailStateEntered', entered('CutoverRolledBack')),
      ev(10, 9, 'ExecutionFailed', {
        executionFailedEventDetails: { error: 'CutoverRolledBackError', cause: 'rolled back' },
      }),
    ];
    let reads = 0;
    sfn
      .on(GetExecutionHistoryCommand, { executionArn: CUTOVER })
      .callsFake((input: { nextToken?: string }) => {
        reads += 1;
        // The last read comes in two pages: the paginator must follow nextToken.
        if (reads < 3) return { events: first };
        return input.nextToken ? { events: rest } : { events: first, nextToken: 'page-2' };
      });
    sfn.on(GetExecutionHistoryCommand, { executionArn: ROLLBACK }).resolves({
      events: [
        ev(1, 4, 'ExecutionStarted', {
          executionStartedEventDetails: {
            input: JSON.stringify({
              reason: 'r',
              trigger: { source: 'cutover', error: 'SmokeTestFailedError' },
            }),
            roleArn: 'arn:aws:iam::123456789012:role/r',
          },
        }),
        ev(2, 4, 'TaskStateEntered', entered('RestoreFlags')),
        ev(3, 5, 'TaskStateExited', exited('RestoreFlags')),
        ev(4, 8, 'SucceedStateEntered', entered('RolledBack')),
        ev(5, 8, 'SucceedStateExited', exited('RolledBack')),
        ev(6, 8, 'ExecutionSucceeded', { executionSucceededEventDetails: { output: '{}' } }),
      ],
    });
    const code = await watch({ ...common(), now: () => t(4).getTime() });
    expect(code).toBe(1);
    expect(out[0]).toBe(
      `console https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${CUTOVER}`,
    );
    expect(out.slice(1)).toEqual([
      'provider-cutover co-1',
      '  + VerifyApiProvider                    1000 ms  api ok, provider http (12 ms)',
      '  .. now VerifyMemoryThroughApi (running 2 s)',
      '  x VerifyMemoryThroughApi               1000 ms  SmokeTestFailedError -> caught',
      '  + RollBack                             6000 ms',
      '  x CutoverRolledBack  CutoverRolledBackError',
      '  provider-rollback abort-co-1 because SmokeTestFailedError',
      '    + RestoreFlags                         1000 ms',
      '    + RolledBack                              0 ms',
      'ended FAILED CutoverRolledBackError',
    ]);
    // The janitor is never a candidate for "the running execution".
    expect(sfn).not.toHaveReceivedCommandWith(ListExecutionsCommand, { stateMachineArn: sm('lock-janitor') });
  });

  it('names the executions when several run, and stops', async () => {
    publishProcedures(['provider-cutover', 'feature-rollout']);
    sfn.on(ListExecutionsCommand).callsFake((i: { stateMachineArn: string }) => ({
      executions: [
        {
          executionArn: `${i.stateMachineArn}:x`,
          stateMachineArn: i.stateMachineArn,
          name: 'x',
          status: 'RUNNING',
          startDate: t(0),
        },
      ],
    }));
    await expect(watch(common())).rejects.toThrow(/2 executions are running in prod; name one/);
    expect(sfn).not.toHaveReceivedCommand(DescribeExecutionCommand);
  });
});

describe('where a rollout is now', () => {
  it('names the phase, the gate evaluation and the time left in the bake interval', () => {
    const cursor = {
      phase: {
        name: 'canary',
        flag: { enabled: true, percentage: 10, allowList: [] },
        bakeSeconds: 900,
        evaluations: 3,
      },
    };
    const history = [
      started,
      ev(2, 0, 'TaskStateEntered', entered('StartPhase')),
      ev(
        3,
        1,
        'TaskStateExited',
        exited(
          'StartPhase',
          JSON.stringify({
            request: { phaseCount: 4 },
            cursor: { index: 2, ...cursor },
            phase: { index: 2, name: 'canary', flagVersion: 5 },
          }),
        ),
      ),
      ev(4, 2, 'TaskStateEntered', entered('EvaluateGate')),
      ev(
        5,
        3,
        'TaskStateExited',
        exited('EvaluateGate', JSON.stringify({ cursor, gate: { evaluation: 2 } })),
      ),
      ev(6, 10, 'WaitStateEntered', {
        stateEnteredEventDetails: {
          name: 'Bake',
          input: JSON.stringify({ request: { gate: { intervalSeconds: 300 } } }),
        },
      }),
    ];
    expect(whereNow(history, 'feature-rollout', t(10).getTime() + 120_000)).toBe(
      'now Bake (waiting, next step in 180 s), phase 3/4 canary, gate evaluation 2/3',
    );
    expect(whereNow(history.slice(0, 5), 'feature-rollout', t(10).getTime())).toBeUndefined();
  });
});

describe('abort', () => {
  const lock = (owner: string) => ({
    Item: {
      pk: { S: 'prod' },
      owner: { S: owner },
      status: { S: 'held' },
      procedure: { S: 'provider-cutover' },
      changeId: { S: 'co-1' },
    },
  });
  beforeEach(() => {
    publishProcedures(['provider-cutover', 'provider-rollback', 'backup']);
    sfn.on(DescribeExecutionCommand, { executionArn: CUTOVER }).resolves({
      executionArn: CUTOVER,
      stateMachineArn: sm('provider-cutover'),
      name: 'co-1',
      status: 'RUNNING',
      startDate: t(0),
    });
    sfn.on(StopExecutionCommand).resolves({ stopDate: t(5) });
    sfn.on(StartExecutionCommand).resolves({ executionArn: ROLLBACK, startDate: t(6) });
    sfn.on(DescribeExecutionCommand, { executionArn: ROLLBACK }).resolves({
      executionArn: ROLLBACK,
      stateMachineArn: sm('provider-rollback'),
      name: 'abort-co-1',
      status: 'SUCCEEDED',
      startDate: t(6),
    });
    sfn.on(GetExecutionHistoryCommand, { executionArn: ROLLBACK }).resolves({ events: [started] });
  });

  it('past the point of no return: takes the lock over, stops the cutover, rolls back from the record, watches it', async () => {
    ddb.on(GetItemCommand).resolves(lock(CUTOVER));
    ddb.on(UpdateItemCommand).resolves({});
    sfn.on(GetExecutionHistoryCommand, { executionArn: CUTOVER }).resolves({
      events: [started, ev(2, 1, 'TaskStateEntered', entered('SwitchToHttp'))],
    });
    const code = await abort({
      ...common(),
      execution: CUTOVER,
      reason: 'latency regression',
      by: 'alice',
      settleSeconds: 0,
    });
    expect(code).toBe(0);
    // The lock changes hands before the stop, conditionally on the cutover still owning it.
    expect(ddb).toHaveReceivedCommandWith(UpdateItemCommand, {
      TableName: 'switchback-prod-locks',
      ConditionExpression: '#owner = :previous AND #status = :held',
      ExpressionAttributeValues: expect.objectContaining({
        ':next': { S: ROLLBACK },
        ':previous': { S: CUTOVER },
      }),
    });
    expect(sfn).toHaveReceivedCommandWith(StopExecutionCommand, {
      executionArn: CUTOVER,
      error: 'AbortedByOperator',
    });
    const stop = sfn.commandCalls(StopExecutionCommand)[0];
    expect(stop && ddb.commandCalls(UpdateItemCommand)[0]?.calledBefore(stop)).toBe(true);
    const start = sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(start?.stateMachineArn).toBe(sm('provider-rollback'));
    expect(start?.name).toBe('abort-co-1');
    expect(JSON.parse(start?.input ?? '{}')).toEqual({
      reason: 'Operator abort of co-1: latency regression',
      requestedBy: 'alice',
      changeId: 'co-1',
      trigger: {
        source: 'operator',
        error: 'AbortedByOperator',
        cause: 'Aborted by alice: latency regression',
      },
    });
    expect(ddb).not.toHaveReceivedCommand(DeleteItemCommand);
    expect(out.at(-1)).toBe('ended SUCCEEDED');
  });

  it('before the point of no return: nothing had changed, so nothing rolls back and the lock is released', async () => {
    ddb.on(GetItemCommand).resolves(lock(CUTOVER));
    ddb.on(UpdateItemCommand).resolves({});
    ddb.on(DeleteItemCommand).resolves({});
    sfn.on(GetExecutionHistoryCommand, { executionArn: CUTOVER }).resolves({
      events: [started, ev(2, 1, 'TaskStateEntered', entered('PreflightApiHealth'))],
    });
    const code = await abort({
      ...common(),
      execution: CUTOVER,
      reason: 'wrong window',
      by: 'bob',
      settleSeconds: 0,
    });
    expect(code).toBe(0);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(ddb).toHaveReceivedCommandWith(DeleteItemCommand, {
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeValues: { ':owner': { S: ROLLBACK } },
    });
    expect(out.at(-1)).toBe(
      'co-1 was stopped before SwitchToHttp: nothing had changed, nothing to roll back. Lock released.',
    );
  });

  it('refuses when the lock is not the cutover’s (or changes hands), stopping nothing', async () => {
    ddb.on(GetItemCommand).resolves(lock(ex('provider-rollback', 'other')));
    await expect(abort({ ...common(), execution: CUTOVER, reason: 'x y z', by: 'bob' })).rejects.toThrow(
      /lock is held by .*other \(held\), not by co-1.*Nothing was changed/,
    );
    ddb.on(GetItemCommand).resolves(lock(CUTOVER));
    ddb
      .on(UpdateItemCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'failed', $metadata: {} }));
    await expect(abort({ ...common(), execution: CUTOVER, reason: 'x y z', by: 'bob' })).rejects.toThrow(
      OperatorCommandError,
    );
    expect(sfn).not.toHaveReceivedCommand(StopExecutionCommand);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('refuses a procedure it cannot undo, and an input its rollback would refuse', async () => {
    const backup = ex('backup', 'b-1');
    sfn.on(DescribeExecutionCommand, { executionArn: backup }).resolves({
      executionArn: backup,
      stateMachineArn: sm('backup'),
      name: 'b-1',
      status: 'RUNNING',
      startDate: t(0),
    });
    await expect(abort({ ...common(), execution: backup, reason: 'x y z', by: 'bob' })).rejects.toThrow(
      /backup cannot be aborted/,
    );
    ddb.on(GetItemCommand).resolves(lock(CUTOVER));
    await expect(
      abort({ ...common(), execution: CUTOVER, reason: 'a long enough reason', by: 'b'.repeat(200) }),
    ).rejects.toThrow(/provider-rollback input would be refused: .*requestedBy/s);
    expect(ddb).not.toHaveReceivedCommand(UpdateItemCommand);
    expect(sfn).not.toHaveReceivedCommand(StopExecutionCommand);
  });
});

describe('pause / resume', () => {
  const NAME = '/switchback/prod/automation/paused';
  it('sets the kill switch with who and why, and changes nothing when already so', async () => {
    ssm
      .on(GetParameterCommand, { Name: NAME })
      .resolves({ Parameter: { Name: NAME, Value: 'false', Version: 3 } });
    ssm.on(PutParameterCommand).resolves({ Version: 4 });
    const at = new Date('2026-12-01T10:00:00Z');
    expect(
      await setPaused({ ...common(), paused: true, reason: 'provider incident INC-9', by: 'alice', at }),
    ).toBe(0);
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, {
      Name: NAME,
      Value: 'true',
      Overwrite: true,
      Description: 'Paused by alice at 2026-12-01T10:00:00.000Z: provider incident INC-9',
    });
    expect(out[0]).toContain('= true (v4): rollback alarms in prod now only notify');

    ssm.reset();
    ssm
      .on(GetParameterCommand, { Name: NAME })
      .resolves({ Parameter: { Name: NAME, Value: 'false', Version: 3 } });
    expect(await setPaused({ ...common(), paused: false, reason: 'done', by: 'alice' })).toBe(0);
    expect(ssm).not.toHaveReceivedCommand(PutParameterCommand);
    expect(out[1]).toBe('automation in prod is already running (v3); nothing changed.');
  });
});

describe('executions and describe', () => {
  it('lists the executions of every procedure newest first, across pages, without the janitor', async () => {
    publishProcedures(['provider-cutover', 'backup', 'lock-janitor']);
    sfn
      .on(ListExecutionsCommand, { stateMachineArn: sm('provider-cutover') })
      .resolvesOnce({
        executions: [
          {
            executionArn: ex('provider-cutover', 'c2'),
            stateMachineArn: sm('provider-cutover'),
            name: 'c2',
            status: 'RUNNING',
            startDate: t(50),
          },
        ],
        nextToken: 'n',
      })
      .resolvesOnce({
        executions: [
          {
            executionArn: ex('provider-cutover', 'c1'),
            stateMachineArn: sm('provider-cutover'),
            name: 'c1',
            status: 'FAILED',
            startDate: t(10),
            stopDate: t(40),
          },
        ],
      });
    sfn.on(ListExecutionsCommand, { stateMachineArn: sm('backup') }).resolves({
      executions: [
        {
          executionArn: ex('backup', 'b1'),
          stateMachineArn: sm('backup'),
          name: 'b1',
          status: 'SUCCEEDED',
          startDate: t(30),
          stopDate: t(35),
        },
      ],
    });
    expect(await listExecutions({ ...common(), limit: 10, json: true })).toBe(0);
    const rows = JSON.parse(out[0] as string) as { name: string; procedure: string; status: string }[];
    expect(rows.map((r) => [r.name, r.procedure, r.status])).toEqual([
      ['c2', 'provider-cutover', 'RUNNING'],
      ['b1', 'backup', 'SUCCEEDED'],
      ['c1', 'provider-cutover', 'FAILED'],
    ]);
    expect(sfn).not.toHaveReceivedCommandWith(ListExecutionsCommand, { stateMachineArn: sm('lock-janitor') });
  });

  it('describes one execution: status, path, how it ended', async () => {
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: CUTOVER,
      stateMachineArn: sm('provider-cutover'),
      name: 'co-1',
      status: 'FAILED',
      startDate: t(0),
      stopDate: t(9),
      error: 'CutoverRolledBackError',
      cause: 'rolled back',
      input: '{"reason":"x"}',
    });
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        started,
        ev(2, 1, 'TaskStateEntered', entered('SwitchToHttp')),
        ev(3, 2, 'TaskStateExited', exited('SwitchToHttp')),
      ],
    });
    expect(await describeExecution({ ...common(), execution: CUTOVER })).toBe(0);
    expect(out).toContain('provider-cutover co-1  FAILED');
    expect(out).toContain('  ended    CutoverRolledBackError: rolled back');
    expect(out).toContain('  path     SwitchToHttp');
  });
});

describe('errors that say what to do', () => {
  it('missing credentials or region', () => {
    expect(
      explain(
        Object.assign(new Error('Could not load credentials from any providers'), {
          name: 'CredentialsProviderError',
        }),
      ),
    ).toMatch(/pass --profile <name>, set AWS_PROFILE/);
    expect(explain(new Error('Region is missing'))).toBe(
      'No AWS region: pass --region <name> or set AWS_REGION.',
    );
  });
});
