import { Template } from 'aws-cdk-lib/assertions';
import type { Role } from 'aws-cdk-lib/aws-iam';
import { afterAll, describe, expect, it } from 'vitest';
import { discovery } from '../../cli/aws';
import { functionPlaceholder, STEP_NAMES } from '../../functions';
import { LOCKING_DATA_PROCEDURES } from '../../lib/data-protection';
import { JANITOR_STATUSES } from '../../lib/execution-lock';
import { Procedure } from '../../lib/procedure';
import {
  PROCEDURES,
  type ProcedureName,
  procedureParameterName,
  type SwitchbackStack,
} from '../../lib/switchback-stack';
import {
  cdkJsonStages,
  deployedDefinition,
  flat,
  grantPairs,
  resourceOf,
  roleStatements,
  synthApp,
} from './support';

const synth = synthApp(cdkJsonStages());
afterAll(() => synth.cleanup());
const stack = synth.stacks[0] as SwitchbackStack;
const template = Template.fromStack(stack);

/** The DynamoDB actions an ASL file uses, read straight from its text (independently of the construct). */
function dynamoActionsIn(name: ProcedureName): string[] {
  const text = Procedure.definition(name);
  const verbs = [...text.matchAll(/"arn:aws:states:::dynamodb:(\w+)"/g)].map((m) => m[1] as string);
  return [...new Set(verbs)].map((v) => `dynamodb:${v[0]?.toUpperCase()}${v.slice(1)}`).sort();
}

const grantsOf = (name: ProcedureName) =>
  grantPairs(roleStatements(stack, stack.procedures[name].stateMachine.role));
const tableArn = () => flat(stack, stack.lock.table.tableArn);

describe.each(PROCEDURES)('procedure %s', (name) => {
  const procedure = stack.procedures[name];
  const sm = resourceOf(template, stack, procedure.stateMachine);

  it('role may use exactly the DynamoDB actions its ASL uses, on the lock table only', () => {
    const expected = dynamoActionsIn(name);
    expect(expected.length).toBeGreaterThan(0);
    const dynamo = grantsOf(name).filter((g) => g.startsWith('dynamodb:'));
    expect(dynamo).toEqual(expected.map((a) => `${a} on ${tableArn()}`));
  });

  it('role may invoke exactly the step functions its ASL names', () => {
    const text = Procedure.definition(name);
    const expected = STEP_NAMES.filter((s) => text.includes(`\${${functionPlaceholder(s)}}`))
      .map((s) => `lambda:InvokeFunction on ${flat(stack, stack.functions[s].functionArn)}`)
      .sort();
    expect(grantsOf(name).filter((g) => g.startsWith('lambda:'))).toEqual(expected);
  });

  it('role may publish to the notification topic, with its key', () => {
    const topic = flat(stack, stack.notifications.topic.topicArn);
    const key = flat(stack, stack.notifications.key.keyArn);
    expect(grantsOf(name)).toEqual(
      expect.arrayContaining([
        `sns:Publish on ${topic}`,
        `kms:GenerateDataKey on ${key}`,
        `kms:Decrypt on ${key}`,
      ]),
    );
  });

  it('logs every event type without execution data to its own log group, and is traced', () => {
    expect(sm.Properties.LoggingConfiguration).toEqual({
      Level: 'ALL',
      IncludeExecutionData: false,
      Destinations: [
        { CloudWatchLogsLogGroup: { LogGroupArn: stack.resolve(procedure.logGroup.logGroupArn) } },
      ],
    });
    expect(sm.Properties.TracingConfiguration).toEqual({ Enabled: true });
    const retention = resourceOf(template, stack, procedure.logGroup).Properties.RetentionInDays;
    expect(retention).toBe(synth.stages[0]?.logRetentionDays);
  });

  it('ships the definition as an S3 asset, exactly the generated one, and substitutes every placeholder', () => {
    const placeholders = Procedure.placeholders(Procedure.definition(name));
    expect(Object.keys(sm.Properties.DefinitionSubstitutions as object).sort()).toEqual(placeholders);
    expect(sm.Properties.DefinitionString).toBeUndefined();
    expect(JSON.parse(deployedDefinition(synth, sm))).toEqual(JSON.parse(Procedure.definition(name)));
    expect((sm.Properties.DefinitionSubstitutions as Record<string, unknown>).Environment).toBe('staging');
  });

  it('alarms on failed, timed-out and aborted executions, notifying the topic', () => {
    const alarms = procedure.alarms.map((a) => resourceOf(template, stack, a).Properties);
    expect(alarms.map((a) => a.MetricName).sort()).toEqual([
      'ExecutionsAborted',
      'ExecutionsFailed',
      'ExecutionsTimedOut',
    ]);
    for (const a of alarms) {
      expect(a).toMatchObject({
        Namespace: 'AWS/States',
        Statistic: 'Sum',
        Period: 60,
        Threshold: 1,
        EvaluationPeriods: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [stack.resolve(stack.notifications.topic.topicArn)],
        Dimensions: [
          { Name: 'StateMachineArn', Value: stack.resolve(procedure.stateMachine.stateMachineArn) },
        ],
      });
    }
  });

  it('publishes its ARN for the CLI under /switchback/<env>/procedures/', () => {
    const params = template.findResources('AWS::SSM::Parameter', {
      Properties: { Name: `/switchback/staging/procedures/${name}` },
    });
    const values = Object.values(params).map((p) => p.Properties.Value);
    expect(values).toEqual([stack.resolve(procedure.stateMachine.stateMachineArn)]);
  });
});

describe('CLI discovery', () => {
  it('publishes the lock table name under /switchback/<env>/lock-table, where the CLI reads it', () => {
    const params = template.findResources('AWS::SSM::Parameter', {
      Properties: { Name: discovery('staging').lockTable },
    });
    expect(Object.values(params).map((p) => p.Properties.Value)).toEqual([
      stack.resolve(stack.lock.table.tableName),
    ]);
  });

  it('procedure ARNs are where the CLI looks for them', () => {
    for (const name of PROCEDURES) {
      expect(procedureParameterName({ name: 'staging' }, name)).toBe(discovery('staging').procedure(name));
    }
  });
});

describe('nested execution (cutover runs the rollback with startExecution.sync:2)', () => {
  const rollback = stack.procedures['provider-rollback'].stateMachine;

  it('cutover may start only the rollback and the backup, describe/stop only their executions, and manage the sync rule', () => {
    const account = 'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>';
    const events = 'arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>';
    const backup = stack.data?.procedures.backup.stateMachine;
    if (!backup) throw new Error('staging deploys the data procedures');
    const startable = [rollback, backup].flatMap((m) => {
      const executions = `${account}:execution:${flat(stack, m.stateMachineName)}:*`;
      return [
        `states:StartExecution on ${flat(stack, m.stateMachineArn)}`,
        `states:DescribeExecution on ${executions}`,
        `states:StopExecution on ${executions}`,
      ];
    });
    const rule = `${events}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`;
    expect(grantsOf('provider-cutover').filter((g) => /^(states|events):/.test(g))).toEqual(
      [
        ...startable,
        `events:PutTargets on ${rule}`,
        `events:PutRule on ${rule}`,
        `events:DescribeRule on ${rule}`,
      ].sort(),
    );
  });

  it('rollback and janitor may start nothing; the janitor invokes only the steps that observe the hold and write its notices', () => {
    expect(grantsOf('provider-rollback').filter((g) => /^(states|events):/.test(g))).toEqual([]);
    expect(grantsOf('lock-janitor').filter((g) => /^(states|events):/.test(g))).toEqual([]);
    const observe = flat(stack, stack.functions['observe-hold'].functionArn);
    const compose = flat(stack, stack.functions['compose-notice'].functionArn);
    expect(grantsOf('lock-janitor').filter((g) => g.startsWith('lambda:'))).toEqual(
      [`lambda:InvokeFunction on ${observe}`, `lambda:InvokeFunction on ${compose}`].sort(),
    );
  });
});

describe('lock janitor trigger', () => {
  const rule = stack.lock.rule;
  if (!rule) throw new Error('no janitor rule');
  const props = resourceOf(template, stack, rule).Properties;

  it('matches only abnormal ends of the executions that take the lock', () => {
    expect(props.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: {
        status: [...JANITOR_STATUSES],
        stateMachineArn: [
          stack.resolve(stack.procedures['provider-cutover'].stateMachine.stateMachineArn),
          stack.resolve(stack.procedures['provider-rollback'].stateMachine.stateMachineArn),
          stack.resolve(stack.procedures['rollback-router'].stateMachine.stateMachineArn),
          stack.resolve(stack.procedures['feature-rollout'].stateMachine.stateMachineArn),
          stack.resolve(stack.procedures['feature-disable'].stateMachine.stateMachineArn),
          stack.resolve(stack.procedures['code-rollback'].stateMachine.stateMachineArn),
          stack.resolve(stack.procedures['config-rollback'].stateMachine.stateMachineArn),
          ...LOCKING_DATA_PROCEDURES.map((n) =>
            stack.resolve(stack.data?.procedures[n].stateMachine.stateMachineArn),
          ),
        ],
      },
    });
    expect(JANITOR_STATUSES).toEqual(['FAILED', 'TIMED_OUT', 'ABORTED']);
    expect(props.State).toBe('ENABLED');
  });

  it("targets the janitor with a role that can only start the janitor's executions", () => {
    const targets = props.Targets as { Arn: unknown; RoleArn: unknown }[];
    const janitor = stack.procedures['lock-janitor'].stateMachine;
    expect(targets).toHaveLength(1);
    expect(targets[0]?.Arn).toEqual(stack.resolve(janitor.stateMachineArn));
    const role = stack.lock.node.findChild('JanitorTriggerRole') as Role;
    expect(targets[0]?.RoleArn).toEqual(stack.resolve(role.roleArn));
    expect(grantPairs(roleStatements(stack, role))).toEqual([
      `states:StartExecution on ${flat(stack, janitor.stateMachineArn)}`,
    ]);
    expect(resourceOf(template, stack, role).Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' } },
      ],
    });
  });
});
