import 'aws-sdk-client-mock-vitest/extend';
import {
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { approve, pendingApproval } from '../../cli/approve';

const clients = { ssm: new SSMClient({ region: 'eu-west-1' }), sfn: new SFNClient({ region: 'eu-west-1' }) };
const ssm = mockClient(clients.ssm);
const sfn = mockClient(clients.sfn);
let out: string[];
beforeEach(() => {
  ssm.reset();
  sfn.reset();
  out = [];
});
const write = (l: string) => out.push(l);

const SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:switchback-prod-feature-rollout';
const EXEC = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-prod-feature-rollout:r-7';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAf-token';

/** Newest first, as GetExecutionHistory answers with reverseOrder. */
function waiting(): HistoryEvent[] {
  return [
    {
      id: 12,
      type: 'TaskSubmitted',
      timestamp: new Date(),
      taskSubmittedEventDetails: { resourceType: 'lambda', resource: 'invoke.waitForTaskToken' },
    },
    {
      id: 11,
      type: 'TaskScheduled',
      timestamp: new Date(),
      taskScheduledEventDetails: {
        resourceType: 'lambda',
        resource: 'invoke.waitForTaskToken',
        region: 'eu-west-1',
        parameters: JSON.stringify({
          FunctionName: 'arn:aws:lambda:eu-west-1:123456789012:function:request-approval',
          Payload: { rolloutId: 'r-7', phase: 'canary', index: 2, timeoutSeconds: 86400, taskToken: TOKEN },
        }),
      },
    },
    {
      id: 10,
      type: 'TaskStateEntered',
      timestamp: new Date(),
      stateEnteredEventDetails: { name: 'AwaitApproval' },
    },
    {
      id: 9,
      type: 'TaskStateExited',
      timestamp: new Date(),
      stateExitedEventDetails: { name: 'NotifyApprovalNeeded' },
    },
  ];
}

describe('pendingApproval (from the execution history)', () => {
  it('finds the token of the approval being waited for', () => {
    expect(pendingApproval(waiting())).toEqual({ taskToken: TOKEN, phase: 'canary', rolloutId: 'r-7' });
  });

  it('is undefined once the wait ended (answered or timed out) or when the rollout is elsewhere', () => {
    const answered: HistoryEvent[] = [
      {
        id: 14,
        type: 'TaskStateExited',
        timestamp: new Date(),
        stateExitedEventDetails: { name: 'AwaitApproval' },
      },
      { id: 13, type: 'TaskSucceeded', timestamp: new Date() },
      ...waiting(),
    ];
    expect(pendingApproval(answered)).toBeUndefined();
    expect(
      pendingApproval([{ id: 13, type: 'TaskTimedOut', timestamp: new Date() }, ...waiting().slice(1)]),
    ).toBeUndefined();
    expect(
      pendingApproval([
        {
          id: 3,
          type: 'TaskStateEntered',
          timestamp: new Date(),
          stateEnteredEventDetails: { name: 'EvaluateGate' },
        },
      ]),
    ).toBeUndefined();
  });
});

describe('switchback approve', () => {
  beforeEach(() => {
    ssm
      .on(GetParameterCommand, { Name: '/switchback/prod/procedures/feature-rollout' })
      .resolves({ Parameter: { Value: SM } });
    sfn.on(ListExecutionsCommand, { stateMachineArn: SM, statusFilter: 'RUNNING' }).resolves({
      executions: [
        { executionArn: EXEC, stateMachineArn: SM, name: 'r-7', status: 'RUNNING', startDate: new Date() },
      ],
    });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: waiting() });
  });

  it('approves the running rollout with SendTaskSuccess, never printing the token', async () => {
    expect(await approve({ env: 'prod', by: 'alice', comment: 'canary looks good', write, clients })).toBe(0);
    expect(sfn).toHaveReceivedCommandWith(GetExecutionHistoryCommand, {
      executionArn: EXEC,
      reverseOrder: true,
    });
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, {
      taskToken: TOKEN,
      output: JSON.stringify({ approvedBy: 'alice', comment: 'canary looks good' }),
    });
    expect(out).toEqual(['Approved phase canary of rollout r-7: it starts now.']);
    expect(out.join('\n').includes(TOKEN)).toBe(false);
  });

  it('rejects with ApprovalRejectedError (the rollout rolls back)', async () => {
    expect(
      await approve({
        env: 'prod',
        execution: EXEC,
        reject: true,
        by: 'bob',
        comment: 'errors up',
        write,
        clients,
      }),
    ).toBe(0);
    expect(sfn).not.toHaveReceivedCommand(ListExecutionsCommand);
    expect(sfn).toHaveReceivedCommandWith(SendTaskFailureCommand, {
      taskToken: TOKEN,
      error: 'ApprovalRejectedError',
      cause: 'Rejected by bob: errors up',
    });
    expect(out).toEqual(['Rejected phase canary of rollout r-7: the rollout rolls back (feature disabled).']);
  });

  it('says so when nothing waits, and refuses to guess between two running rollouts', async () => {
    sfn.on(GetExecutionHistoryCommand).resolves({ events: waiting().slice(2) });
    expect(await approve({ env: 'prod', write, clients })).toBe(1);
    expect(out).toEqual([`${EXEC} is not waiting for an approval.`]);
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        {
          executionArn: `${EXEC}a`,
          stateMachineArn: SM,
          name: 'a',
          status: 'RUNNING',
          startDate: new Date(),
        },
        {
          executionArn: `${EXEC}b`,
          stateMachineArn: SM,
          name: 'b',
          status: 'RUNNING',
          startDate: new Date(),
        },
      ],
    });
    out = [];
    expect(await approve({ env: 'prod', write, clients })).toBe(1);
    expect(out[0]).toMatch(/^2 feature rollouts are running in prod; name one with --execution/);
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });
});
