import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { MonitoringConfig } from './config/alarm-schema';
import type { HouseFunction } from './house-function';

export interface HealthProbeProps {
  /** Environment name (rule description). */
  readonly environment: string;
  /** The `health-probe` step function. */
  readonly probe: HouseFunction;
  /** Rounds per minute and the interval between them. */
  readonly schedule: MonitoringConfig['probe'];
  /** How long one probe may take (the step's HTTP timeout). */
  readonly probeTimeout: Duration;
  /** Where the alarm on the probe's own failures goes. */
  readonly topic: ITopic;
  /** Namespace the probe publishes `Availability` to (functions/shared/metrics.ts). */
  readonly namespace: string;
}

/** The probe's targets, as its `Target` dimension names them. */
export const PROBE_TARGETS = ['api', 'sidecar'] as const;

/**
 * Seed 000's scheduled health check, every minute instead of every five: an EventBridge rule
 * invokes the probe with `{ rounds, intervalMs }`, and the probe publishes high-resolution
 * availability and latency metrics several times within that minute. The rounds must fit in the
 * minute and the function must outlive them. The "down" alarms treat no data as not breaching (no
 * probe data is not the API down), so two alarms watch the probe itself: one on its errors, and one
 * per target on the availability it published, where no data is breaching: a probe that stopped
 * (not invoked, no route to CloudWatch from its subnets) raises a notification, not a rollback.
 */
export class HealthProbe extends Construct {
  public readonly rule: Rule;
  public readonly errorsAlarm: Alarm;
  /** Per target: the probe published no availability for five minutes. */
  public readonly silentAlarms: Readonly<Record<(typeof PROBE_TARGETS)[number], Alarm>>;

  constructor(scope: Construct, id: string, props: HealthProbeProps) {
    super(scope, id);
    const { rounds, intervalSeconds } = props.schedule;
    const span = (rounds - 1) * intervalSeconds;
    if (span >= 60) {
      throw new Error(
        `HealthProbe: ${rounds} rounds ${intervalSeconds} s apart span ${span} s, more than the one-minute schedule`,
      );
    }
    const needs = span + props.probeTimeout.toSeconds() + 5;
    if (props.probe.timeout.toSeconds() < needs) {
      throw new Error(
        `HealthProbe: the probe function times out after ${props.probe.timeout.toSeconds()} s but its rounds need ${needs} s`,
      );
    }

    this.rule = new Rule(this, 'Schedule', {
      description: `Switchback ${props.environment}: probe the API and sidecar health ${rounds} times a minute`,
      schedule: Schedule.rate(Duration.minutes(1)),
    });
    this.rule.addTarget(
      new LambdaFunction(props.probe.function, {
        event: RuleTargetInput.fromObject({ rounds, intervalMs: intervalSeconds * 1000 }),
        retryAttempts: 0,
      }),
    );

    this.errorsAlarm = new Alarm(this, 'ErrorsAlarm', {
      alarmDescription: `Switchback ${props.environment}: the health probe failed (it may not be publishing availability; the "down" alarms are then blind).`,
      metric: props.probe.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.errorsAlarm.addAlarmAction(new SnsAction(props.topic));

    const silent = (target: (typeof PROBE_TARGETS)[number]) => {
      const alarm = new Alarm(this, `Silent-${target}`, {
        alarmDescription: `Switchback ${props.environment}: the health probe published no ${target} availability for 5 minutes; the ${target} "down" alarm is blind until it does. Check the probe's schedule, its errors and its route to CloudWatch.`,
        metric: new Metric({
          namespace: props.namespace,
          metricName: 'Availability',
          dimensionsMap: { Environment: props.environment, Target: target },
          statistic: 'SampleCount',
          period: Duration.minutes(5),
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.BREACHING,
      });
      alarm.addAlarmAction(new SnsAction(props.topic));
      return alarm;
    };
    this.silentAlarms = { api: silent('api'), sidecar: silent('sidecar') };
  }
}
