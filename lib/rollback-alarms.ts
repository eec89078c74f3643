import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  type ComparisonOperator,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Rule } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../functions/shared/metrics';
import { appDimensions, type ResolvedAlarm } from './config/alarm-readiness';
import type { AlarmSpec } from './config/alarm-schema';
import type { StageConfig } from './config/stage';

export interface RollbackAlarmsProps {
  readonly stage: StageConfig;
  /** The alarms, resolved and checked (`resolveAlarms`). */
  readonly alarms: readonly ResolvedAlarm[];
  /** The rollback router the rollback alarms start. */
  readonly router: StateMachine;
  /** Every alarm notifies it when it goes to ALARM (the router notifies again with its report). */
  readonly topic: ITopic;
}

const MISSING: Record<NonNullable<AlarmSpec['treatMissingData']>, TreatMissingData> = {
  breaching: TreatMissingData.BREACHING,
  notBreaching: TreatMissingData.NOT_BREACHING,
  ignore: TreatMissingData.IGNORE,
  missing: TreatMissingData.MISSING,
};

/**
 * One CloudWatch alarm per runbook threshold, each on the metric source the stage points it at
 * (ALB target metrics, ECS Container Insights, the app's namespace, or the health probe), each
 * with its missing-data policy, and rates guarded by a minimum request count in metric math. All
 * alarms notify the topic; those the decision matrix maps to a rollback also start the rollback
 * router through an EventBridge rule whose role may only start the router.
 */
export class RollbackAlarms extends Construct {
  /** Every alarm, by id. */
  public readonly alarms: Readonly<Record<string, Alarm>>;
  /** Starts the router when a rollback alarm goes to ALARM. */
  public readonly rule: Rule;
  /** The rule target's role: `states:StartExecution` on the router only. */
  public readonly triggerRole: Role;

  constructor(scope: Construct, id: string, props: RollbackAlarmsProps) {
    super(scope, id);
    const { stage } = props;
    const alarms: Record<string, Alarm> = {};
    for (const a of props.alarms) {
      const { spec } = a;
      const alarm = new Alarm(this, a.id, {
        alarmName: a.name,
        alarmDescription: describe(stage, a),
        metric: metricOf(stage, a),
        threshold: spec.threshold,
        comparisonOperator: spec.comparison as ComparisonOperator,
        evaluationPeriods: spec.evaluationPeriods,
        datapointsToAlarm: spec.datapointsToAlarm,
        // resolveAlarms refuses an alarm without a policy; there is no default here.
        treatMissingData: MISSING[spec.treatMissingData as NonNullable<AlarmSpec['treatMissingData']>],
        actionsEnabled: spec.actionsEnabled,
      });
      alarm.addAlarmAction(new SnsAction(props.topic));
      alarms[a.id] = alarm;
    }
    this.alarms = alarms;

    const rollbackNames = props.alarms.filter((a) => a.procedure !== null).map((a) => a.name);
    if (rollbackNames.length === 0) throw new Error('RollbackAlarms: no alarm starts a rollback');
    this.rule = new Rule(this, 'RouterRule', {
      description: `Switchback ${stage.name}: a rollback alarm went to ALARM -> rollback router`,
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        detail: { alarmName: rollbackNames, state: { value: ['ALARM'] } },
      },
    });
    this.triggerRole = new Role(this, 'RouterTriggerRole', {
      assumedBy: new ServicePrincipal('events.amazonaws.com'),
      description: `Switchback ${stage.name}: lets EventBridge start the rollback router, nothing else`,
    });
    this.rule.addTarget(new SfnStateMachine(props.router, { role: this.triggerRole }));
  }
}

function describe(stage: StageConfig, a: ResolvedAlarm): string {
  const d = a.decision;
  const action = a.procedure
    ? `starts ${a.procedure} (${d.rollback} rollback) through the rollback router`
    : 'notifies only';
  return `Switchback ${stage.name}, seed ${a.spec.seed}: ${a.spec.title}. Decision matrix: ${d.issueType}/${d.severity} (${d.priority}) ${action}.`;
}

/** The metric (or metric math) an alarm evaluates, from its signal and source. */
export function metricOf(stage: StageConfig, a: ResolvedAlarm): IMetric {
  const spec = a.spec;
  const period = Duration.seconds(spec.periodSeconds);
  const app = (metricName: string, statistic: string) =>
    new Metric({
      namespace: stage.monitoring.app.namespace,
      metricName,
      dimensionsMap: appDimensions(stage),
      statistic,
      period,
    });
  const alb = (metricName: string, statistic: string) => {
    const target = stage.monitoring.alb;
    if (!target) throw new Error(`alarm ${a.id}: monitoring.alb is not configured`);
    return new Metric({
      namespace: 'AWS/ApplicationELB',
      metricName,
      dimensionsMap: { LoadBalancer: target.loadBalancer, TargetGroup: target.targetGroup },
      statistic,
      period,
    });
  };
  const ecs = (metricName: string, statistic: string) =>
    new Metric({
      namespace: 'ECS/ContainerInsights',
      metricName,
      dimensionsMap: { ClusterName: stage.services.cluster, ServiceName: stage.services[spec.service] },
      statistic,
      period,
    });
  const math = (expression: string, usingMetrics: Record<string, IMetric>, label: string) =>
    new MathExpression({ expression, usingMetrics, period, label });
  // Below the minimum count a rate cannot breach: the guard answers with a value on the safe side.
  const safe = spec.comparison.startsWith('Greater') ? 0 : 100;

  switch (spec.signal) {
    case 'rate': {
      const [errors, requests] =
        spec.source === 'alb'
          ? [alb('HTTPCode_Target_5XX_Count', 'Sum'), alb('RequestCount', 'Sum')]
          : [app(spec.numerator ?? '', 'Sum'), app(spec.denominator ?? '', 'Sum')];
      return math(
        `IF(requests >= ${spec.minRequests}, 100 * FILL(errors, 0) / requests, ${safe})`,
        { errors, requests },
        `${a.id}: % (guarded below ${spec.minRequests} requests)`,
      );
    }
    case 'hit-ratio':
      return math(
        `IF(FILL(hits, 0) + FILL(misses, 0) >= ${spec.minRequests}, 100 * FILL(hits, 0) / (FILL(hits, 0) + FILL(misses, 0)), ${safe})`,
        { hits: app(spec.hits, 'Sum'), misses: app(spec.misses, 'Sum') },
        `${a.id}: % (guarded below ${spec.minRequests} lookups)`,
      );
    case 'latency':
      return spec.source === 'alb'
        ? math('1000 * latency', { latency: alb('TargetResponseTime', spec.statistic) }, `${a.id}: ms`)
        : app(spec.metric ?? '', spec.statistic);
    case 'degradation': {
      const latency =
        spec.source === 'alb'
          ? { expression: '1000 * latency', metric: alb('TargetResponseTime', spec.statistic) }
          : { expression: 'latency', metric: app(spec.metric ?? '', spec.statistic) };
      return math(
        `100 * ((${latency.expression}) - ${spec.baselineMs}) / ${spec.baselineMs}`,
        { latency: latency.metric },
        `${a.id}: % above the ${spec.baselineMs} ms baseline`,
      );
    }
    case 'utilization': {
      const [used, reserved] =
        spec.resource === 'memory' ? ['MemoryUtilized', 'MemoryReserved'] : ['CpuUtilized', 'CpuReserved'];
      return math(
        '100 * used / reserved',
        { used: ecs(used, 'Average'), reserved: ecs(reserved, 'Average') },
        `${a.id}: % of reserved`,
      );
    }
    case 'memory-mb':
      return ecs('MemoryUtilized', spec.statistic);
    case 'availability':
      return new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'Availability',
        dimensionsMap: { Environment: stage.name, Target: spec.service },
        statistic: 'Minimum',
        period,
      });
    case 'growth':
      return math('RATE(size) * 86400 / 1000000', { size: app(spec.metric, 'Maximum') }, `${a.id}: MB/day`);
  }
}
