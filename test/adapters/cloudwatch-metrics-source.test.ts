import 'aws-sdk-client-mock-vitest/extend';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchMetricsSource } from '../../functions/shared/adapters/cloudwatch-metrics-source';
import { MetricsUnavailableError } from '../../functions/shared/errors';
import { GateMetricsSpec, loadGateMetricsSpec } from '../../functions/shared/gate-metrics';

const client = new CloudWatchClient({ region: 'eu-west-1' });
const cw = mockClient(client);
beforeEach(() => cw.reset());

const app = { namespace: 'MemoryStack', dimensions: { Environment: 'prod' } };
const spec = GateMetricsSpec.parse({
  metrics: {
    requests: { ...app, metricName: 'Requests', stat: 'Sum' },
    errors: { ...app, metricName: 'Errors', stat: 'Sum' },
    p95LatencyMs: {
      namespace: 'AWS/ApplicationELB',
      metricName: 'TargetResponseTime',
      dimensions: { LoadBalancer: 'app/memory/1', TargetGroup: 'targetgroup/api/2' },
      stat: 'p95',
      scale: 1000,
    },
    memoryMb: {
      namespace: 'ECS/ContainerInsights',
      metricName: 'MemoryUtilized',
      dimensions: { ClusterName: 'c', ServiceName: 'api' },
      stat: 'Maximum',
    },
    cpuPercent: {
      namespace: 'AWS/ECS',
      metricName: 'CPUUtilization',
      dimensions: { ClusterName: 'c', ServiceName: 'api' },
      stat: 'Maximum',
    },
  },
  p0Alarms: { names: ['switchback-prod-s001-api-down', 'switchback-prod-s001-error-rate'], prefix: 'p0-' },
});
const window = { start: new Date('2026-11-22T10:00:00Z'), end: new Date('2026-11-22T10:05:00Z') };

describe('CloudWatchMetricsSource', () => {
  it('reads the five signals in one GetMetricData over the window, adding sums and taking the peak of the rest', async () => {
    cw.on(GetMetricDataCommand)
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'requests', Values: [4000] },
          { Id: 'errors', Values: [] },
          { Id: 'p95LatencyMs', Values: [0.21] },
        ],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'requests', Values: [2000] },
          { Id: 'memoryMb', Values: [300, 420] },
          { Id: 'cpuPercent', Values: [] },
        ],
      });
    const sample = await new CloudWatchMetricsSource(client, spec).sample(window);

    expect(sample).toEqual({
      requests: 6000,
      errors: null,
      p95LatencyMs: 210,
      memoryMb: 420,
      cpuPercent: null,
    });
    expect(cw).toHaveReceivedCommandTimes(GetMetricDataCommand, 2);
    const first = cw.commandCalls(GetMetricDataCommand)[0]?.args[0].input;
    expect(first).toMatchObject({
      StartTime: window.start,
      EndTime: window.end,
      ScanBy: 'TimestampDescending',
    });
    expect(first?.MetricDataQueries?.map((q) => [q.Id, q.MetricStat?.Stat, q.MetricStat?.Period])).toEqual([
      ['requests', 'Sum', 300],
      ['errors', 'Sum', 300],
      ['p95LatencyMs', 'p95', 300],
      ['memoryMb', 'Maximum', 300],
      ['cpuPercent', 'Maximum', 300],
    ]);
    expect(first?.MetricDataQueries?.[2]?.MetricStat?.Metric).toEqual({
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'TargetResponseTime',
      Dimensions: [
        { Name: 'LoadBalancer', Value: 'app/memory/1' },
        { Name: 'TargetGroup', Value: 'targetgroup/api/2' },
      ],
    });
    expect(cw.commandCalls(GetMetricDataCommand)[1]?.args[0].input.NextToken).toBe('page-2');
  });

  it('rounds a short window up to a whole minute (standard-resolution metrics)', async () => {
    cw.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    await new CloudWatchMetricsSource(client, spec).sample({ start: new Date(0), end: new Date(5_000) });
    const input = cw.commandCalls(GetMetricDataCommand)[0]?.args[0].input;
    expect(input?.MetricDataQueries?.[0]?.MetricStat?.Period).toBe(60);
    expect(input?.StartTime).toEqual(new Date(5_000 - 60_000));
  });

  it('lists the P0 alarms in ALARM by name and by prefix', async () => {
    cw.on(DescribeAlarmsCommand, { AlarmNames: spec.p0Alarms.names })
      .resolves({ MetricAlarms: [{ AlarmName: 'switchback-prod-s001-api-down' }] })
      .on(DescribeAlarmsCommand, { AlarmNamePrefix: 'p0-' })
      .resolves({ CompositeAlarms: [{ AlarmName: 'p0-checkout' }] });
    expect(await new CloudWatchMetricsSource(client, spec).alarmsInAlarm()).toEqual([
      'p0-checkout',
      'switchback-prod-s001-api-down',
    ]);
    for (const call of cw.commandCalls(DescribeAlarmsCommand))
      expect(call.args[0].input).toMatchObject({
        StateValue: 'ALARM',
        AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
      });
  });

  it('watches no alarm when none is configured', async () => {
    const none = GateMetricsSpec.parse({ ...spec, p0Alarms: {} });
    expect(await new CloudWatchMetricsSource(client, none).alarmsInAlarm()).toEqual([]);
    expect(cw).not.toHaveReceivedCommand(DescribeAlarmsCommand);
  });

  it('turns SDK failures into MetricsUnavailableError (the gate then applies its missing-data policy)', async () => {
    cw.on(GetMetricDataCommand).rejects(
      Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }),
    );
    cw.on(DescribeAlarmsCommand).rejects(new Error('boom'));
    const source = new CloudWatchMetricsSource(client, spec);
    await expect(source.sample(window)).rejects.toThrow(MetricsUnavailableError);
    await expect(source.sample(window)).rejects.toThrow(
      'CloudWatch GetMetricData failed: ThrottlingException: Rate exceeded',
    );
    await expect(source.alarmsInAlarm()).rejects.toThrow(MetricsUnavailableError);
  });
});

describe('gate metrics spec from the environment', () => {
  it('parses, and names the bad field', () => {
    expect(loadGateMetricsSpec({ SWITCHBACK_GATE_METRICS: JSON.stringify(spec) })).toEqual(spec);
    expect(() => loadGateMetricsSpec({})).toThrow('Environment variable SWITCHBACK_GATE_METRICS is not set');
    const bad = {
      ...spec,
      metrics: { ...spec.metrics, cpuPercent: { ...spec.metrics.cpuPercent, stat: 'p100x' } },
    };
    expect(() => loadGateMetricsSpec({ SWITCHBACK_GATE_METRICS: JSON.stringify(bad) })).toThrow(
      /metrics.cpuPercent.stat: a CloudWatch statistic/,
    );
  });
});
