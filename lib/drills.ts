import { ArnFormat, Duration, Stack, TimeZone } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Schedule, ScheduleExpression, ScheduleTargetInput, TimeWindow } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { type AlarmCatalog, alarmName } from '../functions/shared/alarm-catalog';
import { drillMarkerName } from '../functions/shared/drill-config';
import { METRICS_NAMESPACE } from '../functions/shared/metrics';
import type { BackupBucket } from './backup-bucket';
import type { ChangeJournal } from './change-journal';
import type { DrillsStageConfig } from './config/drill-schema';
import type { Flags } from './flags';
import { grantAlarmHistory } from './lkg-rollbacks';
import { acknowledge } from './nag';
import { Procedure, type ProcedureContext } from './procedure';

export interface DrillsProps {
  readonly context: ProcedureContext;
  readonly flags: Flags;
  readonly backups: BackupBucket;
  readonly alarmCatalog: AlarmCatalog;
  readonly drills: DrillsStageConfig;
  /** The drill reads it to see its rollback verified (config-rollback journals once verified). */
  readonly journal: ChangeJournal;
}

/**
 * Rollback drills through the real detection path: the `drill` procedure, the drill marker it
 * changes (Switchback's own parameter, watched by the journal), the grants of its steps (SetAlarmState
 * on the one drill alarm only), and, for each kind the stage allows, an EventBridge Scheduler
 * schedule (flexible window, retries, a dead-letter queue that alarms) whose role may only start it.
 */
export class Drills extends Construct {
  public readonly procedure: Procedure;
  public readonly marker: StringParameter;
  public readonly schedules: readonly Schedule[];
  public readonly deadLetters?: Queue;

  constructor(scope: Construct, id: string, props: DrillsProps) {
    super(scope, id);
    const { context, drills, alarmCatalog } = props;
    const stack = Stack.of(this);
    if (!Object.hasOwn(alarmCatalog.alarms, drills.alarm)) {
      throw new Error(
        `drills.alarm: "${drills.alarm}" is not a rollback alarm of ${context.environment} (${Object.keys(alarmCatalog.alarms).join(', ')})`,
      );
    }
    this.marker = new StringParameter(this, 'Marker', {
      parameterName: drillMarkerName(context.environment),
      stringValue: 'false',
      description: `Switchback ${context.environment}: the drill marker (true only while a config rollback drill runs)`,
    });
    const fns = context.steps;
    fns['drill-input'].bindAlarmCatalog(alarmCatalog);
    const step = fns.drill;
    step
      .bindFlags(props.flags, ['automation/paused'], 'read')
      .bindAlarmCatalog(alarmCatalog)
      .bindDrillReports(props.backups)
      .bindMetrics(METRICS_NAMESPACE);
    step.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['ssm:GetParameter', 'ssm:PutParameter'],
        resources: [this.marker.parameterArn],
      }),
    );
    grantAlarmHistory(step, alarmCatalog);
    props.journal.grantRead(step);
    step.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['cloudwatch:SetAlarmState'],
        resources: [
          stack.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: alarmName(alarmCatalog, drills.alarm),
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    this.procedure = new Procedure(this, 'Procedure', { name: 'drill', context });

    if (drills.kinds.length === 0) {
      this.schedules = [];
      return;
    }
    const role = new Role(this, 'ScheduleRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: `Switchback ${context.environment}: lets EventBridge Scheduler start rollback drills, nothing else`,
    });
    const deadLetters = new Queue(this, 'ScheduleDeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.deadLetters = deadLetters;
    acknowledge(
      deadLetters,
      'AwsSolutions-SQS3',
      'This queue is itself the dead-letter queue of the drill schedules; nothing consumes it but an operator.',
    );
    new Alarm(this, 'MissedScheduledDrill', {
      alarmDescription: `Switchback ${context.environment}: a scheduled rollback drill could not be started (see the dead-letter queue).`,
      metric: deadLetters.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(new SnsAction(context.topic));
    this.schedules = drills.kinds.map(
      (kind) =>
        new Schedule(this, `Schedule-${kind}`, {
          description: `Switchback ${context.environment}: scheduled ${kind} rollback drill`,
          schedule: ScheduleExpression.expression(drills.schedule, TimeZone.ETC_UTC),
          target: new StepFunctionsStartExecution(this.procedure.stateMachine, {
            role,
            input: ScheduleTargetInput.fromObject({ kind, reason: `Scheduled ${kind} rollback drill` }),
            maxEventAge: Duration.hours(1),
            retryAttempts: 3,
            deadLetterQueue: deadLetters,
          }),
          timeWindow: TimeWindow.flexible(Duration.minutes(drills.flexibleWindowMinutes)),
        }),
    );
  }
}
