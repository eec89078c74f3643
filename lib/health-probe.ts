import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
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
}

/**
 * Seed 000's scheduled health check, every minute instead of every five: an EventBridge rule
 * invokes the probe with `{ rounds, intervalMs }`, and the probe publishes high-resolution
 * availability and latency metrics several times within that minute. The rounds must fit in the
 * minute and the function must outlive them; an alarm reports the probe's own errors (a probe
 * that stops reporting turns the "down" alarms blind, which they treat as not breaching).
 */
export class HealthProbe extends Construct {
  public readonly rule: Rule;
  public readonly errorsAlarm: Alarm;

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
  }
}
