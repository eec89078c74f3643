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
  /** Override where the gate reads any of its five signals. */
  metrics: z
    .strictObject({
      requests: MetricSpec.optional(),
      errors: MetricSpec.optional(),
      p95LatencyMs: MetricSpec.optional(),
      memoryMb: MetricSpec.optional(),
      cpuPercent: MetricSpec.optional(),
    })
    .default({}),
  /**
   * The P0 alarms whose ALARM state fails the gate at once.
   * @default - the stage's alarms whose decision-matrix priority is P0
   */
  p0Alarms: z
    .strictObject({
      names: z.array(z.string().min(1).max(255)).max(100).optional(),
      prefix: z.string().min(1).max(255).optional(),
    })
    .default({}),
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
