import { ArnFormat, Duration, Stack, TimeZone } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Schedule, ScheduleExpression, ScheduleTargetInput, TimeWindow } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { type AlarmCatalog, alarmName, RECOVERY_TARGETS } from '../functions/shared/alarm-catalog';
import { drillMarkerName } from '../functions/shared/drill-config';
import { METRICS_NAMESPACE } from '../functions/shared/metrics';
import type { BackupBucket } from './backup-bucket';
import type { ChangeJournal } from './change-journal';
import type { DrillsStageConfig } from './config/drill-schema';
import type { Flags } from './flags';
import { grantAlarmHistory } from './lkg-rollbacks';
import { Procedure, type ProcedureContext } from './procedure';
import { scheduleStarter } from './schedule-starter';

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
  /** Alarms when a drill's alarm -> verified phase exceeded seed 004's target. */
  public readonly missedTarget: Alarm;

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
    // A failed drill alarms through the procedure's own execution alarms; a drill that passed but
    // took longer than seed 004's alarm -> verified target alarms here.
    this.missedTarget = new Alarm(this, 'DrillMissedTarget', {
      alarmDescription: `Switchback ${context.environment}: a rollback drill took longer than seed 004's target from alarm to verified (${RECOVERY_TARGETS.total / 60} min); see drills/${context.environment}/ in the backup bucket.`,
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'DrillSeconds',
        dimensionsMap: { Environment: context.environment, Kind: 'config', Phase: 'alarmToRolledBack' },
        statistic: 'Maximum',
        period: Duration.hours(1),
      }),
      threshold: RECOVERY_TARGETS.total,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.missedTarget.addAlarmAction(new SnsAction(context.topic));

    if (drills.kinds.length === 0) {
      this.schedules = [];
      return;
    }
    const { role, deadLetters } = scheduleStarter(this, {
      environment: context.environment,
      what: 'rollback drills',
      schedules: 'drill',
      alarmId: 'MissedScheduledDrill',
      alarmDescription: `Switchback ${context.environment}: a scheduled rollback drill could not be started (see the dead-letter queue).`,
      topic: context.topic,
    });
    this.deadLetters = deadLetters;
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
