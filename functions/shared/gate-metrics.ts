import { z } from 'zod';
import { parseOrThrow } from './config';
import { ConfigurationError } from './errors';
import type { GateSample } from './ports';

/**
 * Where the rollout gate reads each of seed 003's signals on AWS: one CloudWatch metric per
 * signal, plus the P0 alarms whose ALARM state fails the gate at once. The CDK builds it from the
 * stage configuration (`featureRollout`) and hands it to the gate evaluation function only, as
 * one JSON environment variable. Names and dimensions only, never a secret.
 */
export const GATE_METRICS_ENV = 'SWITCHBACK_GATE_METRICS';

export const GATE_SIGNALS = ['requests', 'errors', 'p95LatencyMs', 'memoryMb', 'cpuPercent'] as const;
export type GateSignal = (typeof GATE_SIGNALS)[number] & keyof GateSample;

export const MetricSpec = z.strictObject({
  namespace: z.string().min(1).max(255).describe('CloudWatch namespace of the metric.'),
  metricName: z.string().min(1).max(255).describe('Name of the metric.'),
  dimensions: z
    .record(z.string().min(1).max(255), z.string().min(1).max(1024))
    .refine((d) => Object.keys(d).length <= 30, 'at most 30 dimensions')
    .default({})
    .describe('Dimensions of the metric, by name.'),
  stat: z
    .string()
    .regex(/^(Sum|Average|Maximum|Minimum|SampleCount|p\d{1,2}(\.\d{1,2})?)$/, 'a CloudWatch statistic')
    .describe(
      'CloudWatch statistic: Sum, Average, Maximum, Minimum, SampleCount or a percentile such as p95.',
    ),
  scale: z
    .number()
    .positive()
    .default(1)
    .describe('Multiplier applied to the value (e.g. 1000 for a latency metric in seconds).'),
});
export type MetricSpec = z.infer<typeof MetricSpec>;

const AlarmName = z.string().min(1).max(255);

export const GateMetricsSpec = z.strictObject({
  metrics: z.strictObject({
    requests: MetricSpec,
    errors: MetricSpec,
    p95LatencyMs: MetricSpec,
    memoryMb: MetricSpec,
    cpuPercent: MetricSpec,
  }),
  p0Alarms: z
    .strictObject({
      names: z.array(AlarmName).max(100).default([]),
      prefix: AlarmName.optional(),
    })
    .default({ names: [] })
    .describe('The P0 alarms: by name, and/or every alarm whose name starts with `prefix`.'),
});
export type GateMetricsSpec = z.infer<typeof GateMetricsSpec>;

/** Reads the spec from the function's environment; throws ConfigurationError naming the bad field. */
export function loadGateMetricsSpec(env: NodeJS.ProcessEnv = process.env): GateMetricsSpec {
  const raw = env[GATE_METRICS_ENV];
  if (!raw) throw new ConfigurationError(`Environment variable ${GATE_METRICS_ENV} is not set`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ConfigurationError(`${GATE_METRICS_ENV} is not valid JSON`, { cause: err });
  }
  return parseOrThrow(GateMetricsSpec, json, ConfigurationError, GATE_METRICS_ENV);
}
