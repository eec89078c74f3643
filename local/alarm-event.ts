import { randomUUID } from 'node:crypto';

export type AlarmStateValue = 'ALARM' | 'OK' | 'INSUFFICIENT_DATA';

/**
 * A `CloudWatch Alarm State Change` event in the shape AWS documents for EventBridge (metric
 * alarm: envelope, `detail.alarmName`, `detail.state` / `detail.previousState` with value, reason,
 * reasonData and a `+0000` timestamp, `detail.configuration`). The rehearsal sends one to the
 * rollback router; the tests build theirs with it.
 */
/** Where the local environment's alarms come from (a deployed one checks its own account and region). */
export const LOCAL_ALARM_ORIGIN = { account: '123456789012', region: 'eu-west-1' } as const;

export function alarmStateChange(
  alarmName: string,
  options: {
    state?: AlarmStateValue;
    previous?: AlarmStateValue;
    at?: Date;
    account?: string;
    region?: string;
    reason?: string;
  } = {},
) {
  const at = options.at ?? new Date();
  const region = options.region ?? LOCAL_ALARM_ORIGIN.region;
  const account = options.account ?? LOCAL_ALARM_ORIGIN.account;
  const state = options.state ?? 'ALARM';
  const stamp = (d: Date) => d.toISOString().replace('Z', '+0000');
  const reason =
    options.reason ??
    (state === 'ALARM'
      ? `Threshold Crossed: 5 out of the last 5 datapoints [14.2 (${stamp(at)})] were greater than the threshold (10.0) (minimum 5 datapoints for OK -> ALARM transition).`
      : 'Threshold Crossed: 1 out of the last 5 datapoints [0.4] was not greater than the threshold (10.0).');
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account,
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:cloudwatch:${region}:${account}:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: {
        value: state,
        reason,
        reasonData: JSON.stringify({
          version: '1.0',
          queryDate: stamp(at),
          statistic: 'Average',
          period: 60,
          recentDatapoints: [11.5, 12.9, 13.3, 13.8, 14.2],
          threshold: 10.0,
          evaluatedDatapoints: [
            { timestamp: stamp(new Date(at.getTime() - 60_000)), sampleCount: 5, value: 14.2 },
          ],
        }),
        timestamp: stamp(at),
      },
      previousState: {
        value: options.previous ?? (state === 'ALARM' ? 'OK' : 'ALARM'),
        reason:
          'Threshold Crossed: 1 out of the last 5 datapoints was not greater than the threshold (10.0).',
        timestamp: stamp(new Date(at.getTime() - 600_000)),
      },
      configuration: {
        description: `Switchback alarm ${alarmName}`,
        metrics: [
          {
            id: 'rate',
            expression: 'IF(requests >= 50, 100 * FILL(errors, 0) / requests, 0)',
            label: 'error rate %',
            returnData: true,
          },
          {
            id: 'errors',
            metricStat: {
              metric: { namespace: 'MemoryStack', name: 'Errors', dimensions: { Environment: 'rehearsal' } },
              period: 60,
              stat: 'Sum',
            },
            returnData: false,
          },
        ],
      },
    },
  };
}
