import {
  type CloudWatchClient,
  type DescribeAlarmsCommandInput,
  type MetricDataQuery,
  paginateDescribeAlarms,
  paginateGetMetricData,
} from '@aws-sdk/client-cloudwatch';
import { MetricsUnavailableError } from '../errors';
import { GATE_SIGNALS, type GateMetricsSpec, type GateSignal } from '../gate-metrics';
import type { GateSample, MetricsSource } from '../ports';

/** Statistics whose values over several periods add up; the others are combined by their maximum. */
const ADDITIVE = new Set(['Sum', 'SampleCount']);

/**
 * Gate readings from CloudWatch: one GetMetricData call for the five signals over the window
 * (the period is the window, rounded up to whole minutes as standard-resolution metrics need),
 * and DescribeAlarms for the P0 alarms in ALARM. Any SDK failure becomes MetricsUnavailableError,
 * so the gate can apply its missing-data policy instead of failing the rollout on a throttle.
 */
export class CloudWatchMetricsSource implements MetricsSource {
  constructor(
    private readonly client: CloudWatchClient,
    private readonly spec: GateMetricsSpec,
  ) {}

  async sample(window: { readonly start: Date; readonly end: Date }): Promise<GateSample> {
    const seconds = Math.max(60, Math.ceil((window.end.getTime() - window.start.getTime()) / 60_000) * 60);
    const queries: MetricDataQuery[] = GATE_SIGNALS.map((signal) => {
      const m = this.spec.metrics[signal];
      return {
        Id: signal,
        MetricStat: {
          Metric: {
            Namespace: m.namespace,
            MetricName: m.metricName,
            Dimensions: Object.entries(m.dimensions).map(([Name, Value]) => ({ Name, Value })),
          },
          Period: seconds,
          Stat: m.stat,
        },
        ReturnData: true,
      };
    });
    const values = new Map<string, number[]>();
    try {
      for await (const out of paginateGetMetricData(
        { client: this.client },
        {
          MetricDataQueries: queries,
          StartTime: new Date(window.end.getTime() - seconds * 1000),
          EndTime: window.end,
          ScanBy: 'TimestampDescending',
        },
      )) {
        for (const r of out.MetricDataResults ?? []) {
          if (!r.Id) continue;
          values.set(r.Id, [...(values.get(r.Id) ?? []), ...(r.Values ?? [])]);
        }
      }
    } catch (err) {
      throw new MetricsUnavailableError(`CloudWatch GetMetricData failed: ${describeSdkError(err)}`, {
        cause: err,
      });
    }
    const read = (signal: GateSignal): number | null => {
      const m = this.spec.metrics[signal];
      const v = values.get(signal) ?? [];
      if (v.length === 0) return null;
      const combined = ADDITIVE.has(m.stat) ? v.reduce((a, b) => a + b, 0) : Math.max(...v);
      return combined * m.scale;
    };
    return {
      requests: read('requests'),
      errors: read('errors'),
      p95LatencyMs: read('p95LatencyMs'),
      memoryMb: read('memoryMb'),
      cpuPercent: read('cpuPercent'),
    };
  }

  async alarmsInAlarm(): Promise<string[]> {
    const { names, prefix } = this.spec.p0Alarms;
    const found = new Set<string>();
    const requests: DescribeAlarmsCommandInput[] = [];
    if (names.length) requests.push({ AlarmNames: names });
    if (prefix) requests.push({ AlarmNamePrefix: prefix });
    try {
      for (const request of requests) {
        for await (const out of paginateDescribeAlarms(
          { client: this.client },
          { ...request, StateValue: 'ALARM', AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] },
        )) {
          for (const a of [...(out.MetricAlarms ?? []), ...(out.CompositeAlarms ?? [])]) {
            if (a.AlarmName) found.add(a.AlarmName);
          }
        }
      }
    } catch (err) {
      throw new MetricsUnavailableError(`CloudWatch DescribeAlarms failed: ${describeSdkError(err)}`, {
        cause: err,
      });
    }
    return [...found].sort();
  }
}

/** An SDK error as `Name: message`, for messages that state what CloudWatch answered. */
export function describeSdkError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
