import { Duration } from 'aws-cdk-lib';
import {
  AlarmStatusWidget,
  Color,
  Dashboard,
  GraphWidget,
  type IAlarm,
  MathExpression,
  Metric,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { RECOVERY_TARGETS } from '../functions/shared/alarm-catalog';
import type { Procedure } from './procedure';

export interface OperationsDashboardProps {
  /** Environment (stage) name: the metrics' `Environment` dimension and the dashboard's name. */
  readonly environment: string;
  /** Namespace of what Switchback publishes (health probe, recovery phases, incidents). */
  readonly namespace: string;
  /** The deployed procedures: executions by procedure and outcome. */
  readonly procedures: readonly Procedure[];
  /** Every alarm of the stage: the runbooks' thresholds and the procedures' own. */
  readonly alarms: readonly IAlarm[];
  /** What the health probe probes (its `Target` dimension). @default ['api', 'sidecar'] */
  readonly probeTargets?: readonly string[];
}

/** Seed 004's recovery phases as published by the incident report, with their targets. */
export const RECOVERY_PHASE_METRICS = [
  { metric: 'AlarmToRouterSeconds', label: 'detect -> decide', target: RECOVERY_TARGETS.detectToDecide },
  { metric: 'RouterToRollbackSeconds', label: 'decide -> execute', target: RECOVERY_TARGETS.decideToExecute },
  {
    metric: 'RollbackToVerifiedSeconds',
    label: 'execute -> verify',
    target: RECOVERY_TARGETS.executeToVerify,
  },
  { metric: 'AlarmToVerifiedSeconds', label: 'alarm -> verified', target: RECOVERY_TARGETS.total },
] as const;

/** An alarm status widget shows at most this many alarms; more go on further widgets. */
const ALARMS_PER_WIDGET = 100;

/**
 * One CloudWatch dashboard per stage, where an operator looks first: the state of every alarm,
 * the probe's availability and latency, recovery phases against seed 004's targets, incidents by
 * outcome, and the executions of each procedure by outcome.
 */
export class OperationsDashboard extends Construct {
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const env = props.environment;
    const ns = props.namespace;
    const targets = props.probeTargets ?? ['api', 'sidecar'];
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `Switchback-${env}`,
      defaultInterval: Duration.hours(3),
    });

    this.dashboard.addWidgets(
      new TextWidget({
        width: 24,
        height: 2,
        markdown: `# Switchback ${env}\nAlarms that start rollbacks, the health probe, recovery times against seed 004's targets and every procedure's executions. Follow one live with \`switchback watch --env ${env}\`; the kill switch is \`switchback pause --env ${env}\`.`,
      }),
    );
    for (let i = 0; i < props.alarms.length; i += ALARMS_PER_WIDGET) {
      this.dashboard.addWidgets(
        new AlarmStatusWidget({
          title: `Alarms (${env})${props.alarms.length > ALARMS_PER_WIDGET ? ` ${i / ALARMS_PER_WIDGET + 1}` : ''}`,
          alarms: props.alarms.slice(i, i + ALARMS_PER_WIDGET),
          width: 24,
          height: 6,
        }),
      );
    }

    const probe = (name: string, target: string, statistic: string) =>
      new Metric({
        namespace: ns,
        metricName: name,
        dimensionsMap: { Environment: env, Target: target },
        statistic,
        period: Duration.seconds(10),
        label: target,
      });
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Probe availability (1 = up, minimum per 10 s)',
        left: targets.map((t) => probe('Availability', t, 'Minimum')),
        leftYAxis: { min: 0, max: 1 },
        width: 12,
      }),
      new GraphWidget({
        title: 'Probe latency (ms, p95 per 10 s)',
        left: targets.map((t) => probe('LatencyMs', t, 'p95')),
        width: 12,
      }),
    );

    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Recovery phases (s) against seed 004's targets",
        left: RECOVERY_PHASE_METRICS.map(
          (p) =>
            new Metric({
              namespace: ns,
              metricName: p.metric,
              dimensionsMap: { Environment: env },
              statistic: 'Maximum',
              period: Duration.hours(1),
              label: p.label,
            }),
        ),
        leftAnnotations: RECOVERY_PHASE_METRICS.map((p) => ({
          value: p.target,
          label: `${p.label} target ${p.target} s`,
          color: Color.RED,
        })),
        width: 12,
      }),
      new GraphWidget({
        title: 'Incidents by outcome',
        left: [
          new MathExpression({
            expression: `SEARCH('{${ns},Environment,Outcome} MetricName="Incidents" Environment="${env}"', 'Sum', 3600)`,
            label: '',
            period: Duration.hours(1),
          }),
        ],
        width: 12,
      }),
    );

    const outcome = (title: string, pick: (p: Procedure) => Metric) =>
      new GraphWidget({
        title,
        left: props.procedures.map((p) =>
          pick(p).with({ statistic: 'Sum', period: Duration.hours(1), label: p.name }),
        ),
        stacked: true,
        width: 6,
      });
    this.dashboard.addWidgets(
      outcome('Executions succeeded, by procedure', (p) => p.stateMachine.metricSucceeded()),
      outcome('Executions failed, by procedure', (p) => p.stateMachine.metricFailed()),
      outcome('Executions aborted, by procedure', (p) => p.stateMachine.metricAborted()),
      outcome('Executions timed out, by procedure', (p) => p.stateMachine.metricTimedOut()),
    );
  }
}
