import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { DefinitionBody, Pass, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { afterAll, describe, expect, it } from 'vitest';
import { Procedure } from '../../lib/procedure';
import { flat, grantPairs, roleStatements, scratchApp } from './support';

/** `aws-sdk:sfn:stopExecution`: the ExecutionArn is a run-time value, so the stoppable machines are declared. */
const scratch = scratchApp();
const dir = mkdtempSync(join(tmpdir(), 'switchback-asl-stop-'));
afterAll(() => {
  scratch.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function fixture(definition: unknown) {
  const stack = new Stack(scratch.app, `S${n++}`);
  const topic = new Topic(stack, 'Topic');
  const target = new StateMachine(stack, 'Target', {
    definitionBody: DefinitionBody.fromChainable(new Pass(stack, 'Noop')),
  });
  const other = new StateMachine(stack, 'Other', {
    definitionBody: DefinitionBody.fromChainable(new Pass(stack, 'Noop2')),
  });
  const path = join(dir, `stop-${n}.asl.json`);
  writeFileSync(path, JSON.stringify(definition));
  const make = (stoppable?: StateMachine[]) =>
    new Procedure(stack, `Proc${n++}`, {
      name: 'stopper',
      bindings: {},
      logRetention: RetentionDays.ONE_WEEK,
      alarmTopic: topic,
      definitionPath: path,
      ...(stoppable ? { stoppable } : {}),
    });
  return { stack, target, other, make };
}

const STOPPER = {
  StartAt: 'Stop',
  States: {
    Stop: {
      Type: 'Task',
      Resource: 'arn:aws:states:::aws-sdk:sfn:stopExecution',
      Parameters: { 'ExecutionArn.$': '$.owner', Error: 'Stopped' },
      End: true,
    },
  },
};

describe('Procedure: aws-sdk:sfn:stopExecution', () => {
  it('grants StopExecution on the executions of the declared state machines only', () => {
    const { stack, target, make } = fixture(STOPPER);
    const procedure = make([target]);
    const account = 'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>';
    expect(
      grantPairs(roleStatements(stack, procedure.stateMachine.role)).filter((g) => g.startsWith('states:')),
    ).toEqual([`states:StopExecution on ${account}:execution:${flat(stack, target.stateMachineName)}:*`]);
  });

  it('refuses a stopExecution Task when no stoppable state machine is declared', () => {
    const { make } = fixture(STOPPER);
    expect(() => make()).toThrow(
      'Procedure stopper: state "Stop" stops an execution, but the Procedure declares no stoppable state machines',
    );
  });

  it('refuses stoppable state machines that no Task stops (a grant nothing uses)', () => {
    const { other, make } = fixture({ StartAt: 'Done', States: { Done: { Type: 'Succeed' } } });
    expect(() => make([other])).toThrow(
      'Procedure stopper: stoppable state machines are declared but no Task uses arn:aws:states:::aws-sdk:sfn:stopExecution',
    );
  });
});
