import 'aws-sdk-client-mock-vitest/extend';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { discovery } from '../../cli/aws';
import type { OperatorClients } from '../../cli/operator';
import { stateMachineArn } from '../../local/engine';
import type { World } from '../../local/world';
import { PROCEDURE_NAMES } from '../../procedures/index';
import { awsHistoryOf } from './history';

/**
 * The operator commands' AWS clients, answered by a local world: Step Functions by the local
 * engine (DescribeExecution, StartExecution, StopExecution, GetExecutionHistory in the API's
 * shapes), SSM's discovery parameters (state machine ARNs, the lock table) as a deployed stack
 * publishes them, and DynamoDB by the world's own lock table (dynalite, no mock).
 */
export function engineClients(world: World): OperatorClients {
  const env = world.config.environment;
  const d = discovery(env);
  const sfnClient = new SFNClient({ region: 'local-1' });
  const ssmClient = new SSMClient({ region: 'local-1' });
  const sfn = mockClient(sfnClient);
  const ssm = mockClient(ssmClient);
  const parameters = new Map<string, string>([
    [d.lockTable, world.lockTable],
    ...PROCEDURE_NAMES.map((p) => [d.procedure(p), stateMachineArn(env, p)] as const),
  ]);
  ssm.on(GetParameterCommand).callsFake(({ Name }: { Name: string }) => {
    const value = parameters.get(Name);
    if (value === undefined)
      throw Object.assign(new Error(`Parameter ${Name} not found.`), { name: 'ParameterNotFound' });
    return { Parameter: { Name, Value: value, Type: 'String', Version: 1 } };
  });
  const execution = (arn: string) => {
    const e = world.engine.executions.find((x) => x.arn === arn);
    if (!e)
      throw Object.assign(new Error(`Execution Does Not Exist: '${arn}'`), {
        name: 'ExecutionDoesNotExist',
      });
    return e;
  };
  sfn.on(DescribeExecutionCommand).callsFake(({ executionArn }: { executionArn: string }) => {
    const e = execution(executionArn);
    return {
      executionArn: e.arn,
      stateMachineArn: stateMachineArn(env, e.procedure),
      name: e.name,
      status: e.status,
      startDate: new Date(e.startedAt),
      ...(e.stoppedAt ? { stopDate: new Date(e.stoppedAt) } : {}),
      input: JSON.stringify(e.input),
      ...(e.output === undefined ? {} : { output: JSON.stringify(e.output) }),
      ...(e.error ? { error: e.error, cause: e.cause ?? '' } : {}),
    };
  });
  sfn.on(GetExecutionHistoryCommand).callsFake(({ executionArn }: { executionArn: string }) => ({
    events: awsHistoryOf(execution(executionArn), 'local-1'),
  }));
  sfn.on(StopExecutionCommand).callsFake((i: { executionArn: string; error?: string; cause?: string }) => {
    const { StopDate } = world.engine.stop(i.executionArn, { error: i.error, cause: i.cause });
    return { stopDate: new Date(StopDate) };
  });
  sfn.on(StartExecutionCommand).callsFake((i: { stateMachineArn: string; name?: string; input?: string }) => {
    const procedure = PROCEDURE_NAMES.find((p) => stateMachineArn(env, p) === i.stateMachineArn);
    if (!procedure)
      throw Object.assign(new Error(`State Machine Does Not Exist: '${i.stateMachineArn}'`), {
        name: 'StateMachineDoesNotExist',
      });
    const started = world.engine.start(procedure, JSON.parse(i.input ?? '{}'), { name: i.name });
    return { executionArn: started.record.arn, startDate: new Date(started.record.startedAt) };
  });
  return { sfn: sfnClient, ssm: ssmClient, dynamodb: world.dynamo.client };
}
