import { z } from 'zod';
import { type GateMetricsSpec, MetricSpec } from '../../functions/shared/gate-metrics';
import type { MonitoringConfig } from './alarm-schema';

/**
 * Stage configuration of the phased feature rollout (seed 003): where its gate reads each signal
 * on AWS, and which alarms are P0. Every field has a default that matches the stage's alarms
 * (the app's `Requests`/`Errors`/`RequestLatency` metrics, ECS Container Insights memory, ECS
 * CPU), so most stages need nothing here.
 */
export const FeatureRolloutConfig = z.strictObject({
  metrics: z
    .strictObject({
      requests: MetricSpec.optional().describe(
        "Requests served (the error rate's denominator). Default: the app's `Requests`.",
      ),
      errors: MetricSpec.optional().describe("Failed requests. Default: the app's `Errors`."),
      p95LatencyMs: MetricSpec.optional().describe(
        "p95 latency in ms. Default: the app's `RequestLatency`, p95.",
      ),
      memoryMb: MetricSpec.optional().describe(
        'Memory used in MB. Default: Container Insights `MemoryUtilized`.',
      ),
      cpuPercent: MetricSpec.optional().describe('CPU in percent. Default: ECS `CPUUtilization`.'),
    })
    .default({})
    .describe('Override where the gate reads any of its five signals.'),
  p0Alarms: z
    .strictObject({
      names: z.array(z.string().min(1).max(255)).max(100).optional().describe('The P0 alarms by name.'),
      prefix: z
        .string()
        .min(1)
        .max(255)
        .optional()
        .describe('Every alarm whose name starts with this is P0.'),
    })
    .default({})
    .describe('The P0 alarms whose ALARM state fails the gate at once.'),
});
export type FeatureRolloutConfig = z.infer<typeof FeatureRolloutConfig>;

/** What the gate function is configured with, from the stage (see `FeatureRolloutConfig`). */
export function gateMetricsSpec(
  stage: {
    readonly name: string;
    readonly services: { readonly cluster: string; readonly api: string };
    readonly monitoring: MonitoringConfig;
    readonly featureRollout: FeatureRolloutConfig;
  },
  defaultP0Alarms: readonly string[],
): GateMetricsSpec {
  const app = {
    namespace: stage.monitoring.app.namespace,
    dimensions: stage.monitoring.app.dimensions ?? { Environment: stage.name },
    scale: 1,
  };
  const service = { ClusterName: stage.services.cluster, ServiceName: stage.services.api };
  const o = stage.featureRollout.metrics;
  return {
    metrics: {
      requests: o.requests ?? { ...app, metricName: 'Requests', stat: 'Sum' },
      errors: o.errors ?? { ...app, metricName: 'Errors', stat: 'Sum' },
      p95LatencyMs: o.p95LatencyMs ?? { ...app, metricName: 'RequestLatency', stat: 'p95' },
      memoryMb: o.memoryMb ?? {
        namespace: 'ECS/ContainerInsights',
        metricName: 'MemoryUtilized',
        dimensions: service,
        stat: 'Maximum',
        scale: 1,
      },
      cpuPercent: o.cpuPercent ?? {
        namespace: 'AWS/ECS',
        metricName: 'CPUUtilization',
        dimensions: service,
        stat: 'Maximum',
        scale: 1,
      },
    },
    p0Alarms: {
      names: [...(stage.featureRollout.p0Alarms.names ?? defaultP0Alarms)],
      ...(stage.featureRollout.p0Alarms.prefix ? { prefix: stage.featureRollout.p0Alarms.prefix } : {}),
    },
  };
}
