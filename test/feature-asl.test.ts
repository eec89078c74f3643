import { describe, expect, it } from 'vitest';
import { functionPlaceholder } from '../functions/index';
import { readDefinitionText } from '../local/definitions';

type State = Record<string, unknown> & {
  Type: string;
  Resource?: string;
  Next?: string;
  Default?: string;
  Choices?: { Next: string }[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
};
type Definition = { StartAt: string; States: Record<string, State> };
const load = (name: string) => JSON.parse(readDefinitionText(name)) as Definition;

function successors(s: State): string[] {
  return [s.Next, s.Default, ...(s.Choices ?? []).map((c) => c.Next)].filter((n): n is string => !!n);
}

/** States reachable from `from` on the forward path, stopping at `until` and never entering `avoid`. */
function forward(def: Definition, from: string, until: string, avoid: readonly string[]): string[] {
  const seen = new Set<string>();
  const queue = [from];
  while (queue.length) {
    const name = queue.shift() as string;
    if (seen.has(name) || avoid.includes(name)) continue;
    seen.add(name);
    if (name !== until) queue.push(...successors(def.States[name] as State));
  }
  return [...seen];
}

/** Notifications never change an outcome: a failed publish is caught and the procedure goes on. */
/** Publishing a notice: the SNS publish, and the step that writes its text before it. */
const isNotification = (s: State) =>
  s.Resource === 'arn:aws:states:::sns:publish' ||
  s.Resource === `\${${functionPlaceholder('compose-notice')}}`;

describe('feature-rollout compensation', () => {
  const def = load('feature-rollout');

  it('every task from the first flag write until the rollout closes catches everything into the rollback', () => {
    const path = forward(def, 'StartPhase', 'CloseCompleted', [
      'ShouldRollBack',
      'RollBack',
      'CloseInterrupted',
    ]);
    const tasks = path.filter((s) => {
      const state = def.States[s] as State;
      return state.Type === 'Task' && s !== 'CloseCompleted' && !isNotification(state);
    });
    expect(tasks.sort()).toEqual([
      'AwaitApproval',
      'CheckPhase',
      'CompletePhase',
      'EvaluateGate',
      'StartPhase',
    ]);
    for (const task of tasks) {
      const catches = (def.States[task] as State).Catch ?? [];
      expect(
        catches.some((c) => c.ErrorEquals.includes('States.ALL') && c.Next === 'ShouldRollBack'),
        task,
      ).toBe(true);
    }
    // A gate breach goes straight to the rollback; a dry run never reaches it.
    expect(successors(def.States.GateFailed as State)).toEqual(['RollBack']);
    expect((def.States.ShouldRollBack as State).Choices).toEqual([
      { Variable: '$.request.dryRun', BooleanEquals: true, Next: 'CloseDryRunFailed' },
    ]);
  });

  it('a rollback that cannot verify leaves maintenance mode on and the lock held for an operator', () => {
    const rollBack = def.States.RollBack as State;
    expect(rollBack.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.rollbackFailure', Next: 'EnterMaintenance' },
    ]);
    const chain = [
      'EnterMaintenance',
      'RestartIntoMaintenance',
      'HoldStartStabilityWait',
      'HoldWaitForStable',
      'HoldCheckStable',
    ];
    for (const [k, name] of chain.slice(0, -1).entries()) {
      expect(successors(def.States[name] as State), name).toEqual([chain[k + 1]]);
    }
    // Stable or not, the hold goes on: the lock marked, then observed, then reported.
    expect(successors(def.States.HoldIsStable as State).sort()).toEqual(
      ['HoldNotStable', 'HoldWaitForStable', 'MarkLockNeedsOperator'].sort(),
    );
    const after = [
      'MarkLockNeedsOperator',
      'ReadHeldLock',
      'ObserveHold',
      'CloseRollbackFailed',
      'DescribeHeld',
      'Notify',
      'PublishNotice',
    ];
    for (const [k, name] of after.slice(0, -1).entries()) {
      expect(successors(def.States[name] as State), name).toEqual([after[k + 1]]);
    }
    // The notice reports the maintenance flag, what the API serves and the lock as observed.
    const held = def.States.DescribeHeld as State & { Parameters: Record<string, unknown> };
    expect(held.Parameters).toMatchObject({
      outcome: 'rollback-failed',
      'maintenanceMode.$': '$.observed.maintenanceFlag',
      'apiMaintenance.$': '$.observed.apiMaintenance',
      'lock.$': '$.observed.lock',
      'lockStatus.$': '$.observed.lockStatus',
    });
    expect((def.States.EndByOutcome as State).Choices).toContainEqual({
      Variable: '$.notice.outcome',
      StringEquals: 'rollback-failed',
      Next: 'RollbackFailed',
    });
    expect(def.States.RollbackFailed).toMatchObject({ Type: 'Fail', Error: 'RollbackFailedError' });
    expect(def.States.MarkLockNeedsOperator).toMatchObject({
      Resource: 'arn:aws:states:::dynamodb:updateItem',
    });
  });

  it('the approval wait times out from its input, resolved the same way in the state input and the task parameters', () => {
    const wait = def.States.AwaitApproval as State & {
      InputPath: string;
      TimeoutSecondsPath: string;
      Parameters: { Payload: Record<string, string> };
    };
    expect(wait.InputPath).toBe('$.approvalRequest');
    expect(wait.TimeoutSecondsPath).toBe('$.Payload.timeoutSeconds');
    expect(wait.Parameters.Payload['timeoutSeconds.$']).toBe('$.Payload.timeoutSeconds');
    expect(wait.Parameters.Payload['taskToken.$']).toBe('$$.Task.Token');
  });
});

describe('feature-disable compensation', () => {
  const def = load('feature-disable');

  it('after the flag write, a verification that fails restarts the API; anything else holds for an operator', () => {
    const path = forward(def, 'DisableFlag', 'ShouldRecordInRolloutLog', ['RestartApi', 'EnterMaintenance']);
    expect(path.sort()).toEqual(['DisableFlag', 'ShouldRecordInRolloutLog', 'VerifyOff']);
    expect((def.States.DisableFlag as State).Catch?.[0]).toMatchObject({
      ErrorEquals: ['States.ALL'],
      Next: 'EnterMaintenance',
    });
    expect((def.States.VerifyOff as State).Catch?.[0]).toMatchObject({
      ErrorEquals: ['States.ALL'],
      Next: 'RestartApi',
    });
    const fallback = forward(def, 'RestartApi', 'ShouldRecordInRolloutLog', ['EnterMaintenance']).filter(
      (s) => (def.States[s] as State).Type === 'Task',
    );
    expect(fallback.sort()).toEqual(['CheckStable', 'RestartApi', 'VerifyOffAfterRestart']);
    for (const task of fallback) {
      expect((def.States[task] as State).Catch?.[0], task).toMatchObject({
        ErrorEquals: ['States.ALL'],
        Next: 'EnterMaintenance',
      });
    }
    expect(successors(def.States.NotStable as State)).toEqual(['EnterMaintenance']);
  });
});
