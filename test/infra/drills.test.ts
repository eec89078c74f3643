import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import type { SwitchbackStack } from '../../lib/switchback-stack';
import { flat, grantPairs, resourceOf, roleStatements, stage, stepBaseline, synthApp } from './support';

const synth = synthApp([
  stage({ name: 'drilled', drills: { kinds: ['config'], flexibleWindowMinutes: 30 } }),
]);
afterAll(() => synth.cleanup());
const stack = synth.stacks[0] as SwitchbackStack;
const template = Template.fromStack(stack);
const ARN = 'arn:<AWS::Partition>';
const RA = '<AWS::Region>:<AWS::AccountId>';

describe('rollback drills', () => {
  const drills = stack.node.findChild('Drills') as import('../../lib/drills').Drills;

  it('a schedule per allowed kind: monthly by default, a flexible window, retries and a dead-letter queue', () => {
    expect(drills.schedules).toHaveLength(1);
    const schedule = resourceOf(template, stack, drills.schedules[0] as never).Properties as {
      [k: string]: unknown;
      Target: { Arn: unknown; Input: string; RetryPolicy: unknown; DeadLetterConfig: { Arn: unknown } };
    };
    expect(schedule.ScheduleExpression).toBe('cron(0 4 1 * ? *)');
    expect(schedule.ScheduleExpressionTimezone).toBe('Etc/UTC');
    expect(schedule.FlexibleTimeWindow).toEqual({ Mode: 'FLEXIBLE', MaximumWindowInMinutes: 30 });
    expect(flat(stack, schedule.Target.Arn)).toBe(flat(stack, drills.procedure.stateMachine.stateMachineArn));
    expect(JSON.parse(schedule.Target.Input)).toEqual({
      kind: 'config',
      reason: 'Scheduled config rollback drill',
    });
    expect(schedule.Target.RetryPolicy).toEqual({ MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 });
    expect(flat(stack, schedule.Target.DeadLetterConfig.Arn)).toBe(flat(stack, drills.deadLetters?.queueArn));
    // The schedule's role may start the drill and nothing else.
    const role = stack.node
      .findChild('Drills')
      .node.findChild('ScheduleRole') as import('aws-cdk-lib/aws-iam').Role;
    expect(grantPairs(roleStatements(stack, role))).toEqual(
      [
        `sqs:SendMessage on ${flat(stack, drills.deadLetters?.queueArn)}`,
        `states:StartExecution on ${flat(stack, drills.procedure.stateMachine.stateMachineArn)}`,
      ].sort(),
    );
  });

  it('the drill step may set the state of the one drill alarm, write only the drill marker and its reports', () => {
    const grants = grantPairs(roleStatements(stack, stack.functions.drill.role)).filter(
      (g) => !stepBaseline(stack, 'drill').includes(g),
    );
    const alarm = `${ARN}:cloudwatch:${RA}:alarm:switchback-drilled-s004-error-rate`;
    expect(grants.filter((g) => g.startsWith('cloudwatch:SetAlarmState'))).toEqual([
      `cloudwatch:SetAlarmState on ${alarm}`,
    ]);
    expect(grants.filter((g) => g.startsWith('ssm:PutParameter'))).toEqual([
      `ssm:PutParameter on ${flat(stack, drills.marker.parameterArn)}`,
    ]);
    expect(grants.filter((g) => g.startsWith('s3:'))).toEqual([
      `s3:PutObject on ${flat(stack, stack.backups.bucket.bucketArn)}/drills/drilled/*`,
    ]);
    const marker = resourceOf(template, stack, drills.marker).Properties;
    expect(marker).toMatchObject({
      Name: '/switchback/drilled/drill/marker',
      Value: 'false',
      Type: 'String',
    });
  });

  it('a drill that missed seed 004 alarm -> verified target alarms the topic', () => {
    const alarm = resourceOf(template, stack, drills.missedTarget).Properties;
    expect(alarm).toMatchObject({
      MetricName: 'DrillSeconds',
      Namespace: 'Switchback',
      Threshold: 900,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarm.Dimensions).toEqual(
      expect.arrayContaining([
        { Name: 'Phase', Value: 'alarmToRolledBack' },
        { Name: 'Kind', Value: 'config' },
      ]),
    );
    expect(flat(stack, (alarm.AlarmActions as unknown[])[0])).toBe(
      flat(stack, stack.notifications.topic.topicArn),
    );
  });

  it('a stage allows no drill kind by default: no schedule; an unknown drill alarm fails the synth', () => {
    const plain = synthApp([stage({ name: 'plain' })]);
    try {
      expect(
        ((plain.stacks[0] as SwitchbackStack).node.findChild('Drills') as import('../../lib/drills').Drills)
          .schedules,
      ).toEqual([]);
    } finally {
      plain.cleanup();
    }
    expect(() =>
      synthApp([stage({ name: 'bad', drills: { kinds: ['config'], alarm: 'nope' } })]).cleanup(),
    ).toThrow(/drills\.alarm: "nope" is not a rollback alarm of bad/);
  });
});
