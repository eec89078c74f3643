import { Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { acknowledge } from './nag';

/**
 * What every EventBridge Scheduler schedule of a procedure needs, in `scope`: a role that
 * Scheduler of this account alone may assume (the target grants it the one start), and a
 * dead-letter queue for a start that failed every retry, whose alarm tells the topic.
 */
export function scheduleStarter(
  scope: Construct,
  o: {
    readonly environment: string;
    /** What the schedules start, in the role's description: `scheduled backups`. */
    readonly what: string;
    /** Whose schedules they are, in the queue's: `backup`. */
    readonly schedules: string;
    /** The alarm's id and description. */
    readonly alarmId: string;
    readonly alarmDescription: string;
    readonly topic: ITopic;
  },
): { role: Role; deadLetters: Queue } {
  const role = new Role(scope, 'ScheduleRole', {
    assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
    }),
    description: `Switchback ${o.environment}: lets EventBridge Scheduler start ${o.what}, nothing else`,
  });
  const deadLetters = new Queue(scope, 'ScheduleDeadLetters', {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  acknowledge(
    deadLetters,
    'AwsSolutions-SQS3',
    `This queue is itself the dead-letter queue of the ${o.schedules} schedules; nothing consumes it but an operator.`,
  );
  new Alarm(scope, o.alarmId, {
    alarmDescription: o.alarmDescription,
    metric: deadLetters.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
      statistic: 'Maximum',
    }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  }).addAlarmAction(new SnsAction(o.topic));
  return { role, deadLetters };
}
