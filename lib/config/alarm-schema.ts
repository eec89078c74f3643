import { z } from 'zod';
import { AlarmId } from '../../functions/shared/alarm-catalog';

/**
 * The stage configuration of alarm-started rollbacks: thresholds and their metric sources, the
 * decision matrix, and how incidents are handled. Seed defaults come from the runbooks; a stage
 * in `cdk.json` overrides any field of any alarm by id (or drops one with `null`). Readiness (an
 * entry in the matrix, an explicit missing-data policy, a window inside the detection budget, a
 * procedure that performs the rollback) is checked at synth in `alarm-readiness.ts`.
 */

export const Severity = z.enum(['low', 'medium', 'high', 'critical']);
export const IssueType = z
  .string()
  .regex(/^[a-z][a-z0-9-]{1,40}$/, 'lowercase letters, digits and "-", e.g. critical-bug');
/** What seed 004's matrix decides: which rollback, or none (notify only). */
export const Decision = z.enum(['config', 'code', 'data', 'none']);

export const MatrixRow = z.strictObject({
  issueType: IssueType.describe('The kind of issue (seed 004).'),
  severity: Severity.describe('How bad it is (seed 004).'),
  rollback: Decision.describe('The rollback it calls for: config, code, data, or none.'),
  priority: z
    .enum(['P0', 'P1', 'P2', 'P3'])
    .describe("Its priority; a P0 alarm also fails a feature rollout's gate at once."),
  downtime: z
    .string()
    .max(40)
    .optional()
    .describe('The downtime the runbook accepts for it (documentation only).'),
});
export type MatrixRow = z.infer<typeof MatrixRow>;

/**
 * Seed 004's "Rollback Decision Matrix" (issue type x severity -> code / data rollback), with the
 * configuration rollback its "Rollback Types" names for config errors, and one added row
 * (performance-degradation/low) for the thresholds the runbooks only ask to watch.
 */
export const SEED_DECISION_MATRIX: readonly MatrixRow[] = [
  { issueType: 'critical-bug', severity: 'high', rollback: 'code', priority: 'P0', downtime: '< 5 min' },
  {
    issueType: 'data-corruption',
    severity: 'critical',
    rollback: 'data',
    priority: 'P0',
    downtime: '< 15 min',
  },
  {
    issueType: 'performance-degradation',
    severity: 'medium',
    rollback: 'code',
    priority: 'P1',
    downtime: '< 5 min',
  },
  { issueType: 'minor-bug', severity: 'low', rollback: 'none', priority: 'P2', downtime: '0 min' },
  { issueType: 'config-error', severity: 'medium', rollback: 'config', priority: 'P1', downtime: '< 2 min' },
  {
    issueType: 'security-issue',
    severity: 'critical',
    rollback: 'code',
    priority: 'P0',
    downtime: '< 5 min',
  },
  {
    issueType: 'external-api-incompatibility',
    severity: 'high',
    rollback: 'code',
    priority: 'P0',
    downtime: '< 5 min',
  },
  {
    issueType: 'performance-degradation',
    severity: 'low',
    rollback: 'none',
    priority: 'P2',
    downtime: '0 min',
  },
];

export const DecisionMatrix = z
  .array(MatrixRow)
  .min(1)
  .superRefine((rows, ctx) => {
    const seen = new Set<string>();
    for (const [i, r] of rows.entries()) {
      const key = `${r.issueType}/${r.severity}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [i], message: `${key} appears twice` });
      seen.add(key);
    }
  });

const Comparison = z.enum([
  'GreaterThanThreshold',
  'GreaterThanOrEqualToThreshold',
  'LessThanThreshold',
  'LessThanOrEqualToThreshold',
]);
/** CloudWatch's missing-data treatments. Every alarm must name one (readiness check). */
export const MissingData = z.enum(['breaching', 'notBreaching', 'ignore', 'missing']);
const Statistic = z
  .string()
  .regex(
    /^(Average|Sum|Minimum|Maximum|SampleCount|p\d{1,2}(\.\d{1,2})?)$/,
    'a CloudWatch statistic, e.g. p95',
  );
const MetricName = z.string().min(1).max(255);

/** Descriptions shared by the alarm kinds (the reference lists each field once). */
const SIGNAL =
  'The kind of alarm: `rate`, `hit-ratio`, `latency`, `degradation`, `utilization`, `memory-mb`, `availability` or `growth`; each kind takes its own fields.';
const SOURCE =
  "Where the metric comes from: `alb`, `app` (the app's namespace), `ecs` (Container Insights) or `probe`; each kind allows some.";
const METRIC = 'App metric name (source app); absent: the default for the signal (ALB: TargetResponseTime).';
const STATISTIC = 'CloudWatch statistic, e.g. p95.';
const MIN_REQUESTS = z
  .number()
  .int()
  .min(1)
  .optional()
  .describe('Below this many requests (or lookups) in a period, the ratio counts as not breaching.');

const common = {
  seed: z.enum(['000', '001', '002', '003', '004']).describe('The runbook the threshold comes from.'),
  title: z.string().min(3).max(120).describe('What the alarm says, in the notification and the dashboard.'),
  service: z
    .enum(['api', 'sidecar'])
    .default('api')
    .describe('The service the threshold is about (ECS metrics and probe target).'),
  comparison: Comparison.describe(
    'How the signal is compared with the threshold (CloudWatch ComparisonOperator).',
  ),
  threshold: z
    .number()
    .finite()
    .describe("The limit, in the signal's unit (percent, ms, MB, MB per day, availability 0-1)."),
  periodSeconds: z
    .number()
    .int()
    .refine((p) => p === 10 || p === 30 || (p >= 60 && p % 60 === 0), '10, 30 or a multiple of 60')
    .describe('10 or 30 (high-resolution probe metrics only) or a multiple of 60.'),
  evaluationPeriods: z.number().int().min(1).max(100).describe('Periods CloudWatch evaluates.'),
  datapointsToAlarm: z
    .number()
    .int()
    .min(1)
    .max(100)
    .describe('Breaching periods among them that raise the alarm.'),
  treatMissingData: MissingData.optional().describe(
    'Optional in the schema so the readiness check can name the alarm that forgot it.',
  ),
  issueType: IssueType.describe('The issue type the decision matrix looks the alarm up by.'),
  severity: Severity.describe('The severity the decision matrix looks the alarm up by.'),
  actionsEnabled: z
    .boolean()
    .default(true)
    .describe("False mutes the alarm's actions; the readiness check refuses it on a rollback alarm."),
};

/** 100 x numerator / denominator, e.g. 5XX / requests. Guarded by `minRequests` (readiness check). */
const RateAlarm = z.strictObject({
  ...common,
  signal: z.literal('rate').describe(SIGNAL),
  source: z.enum(['alb', 'app']).describe(SOURCE),
  numerator: MetricName.optional().describe(
    'App metric names (source app); ALB uses HTTPCode_Target_5XX_Count / RequestCount.',
  ),
  denominator: MetricName.optional().describe('App metric of the denominator (source app).'),
  minRequests: MIN_REQUESTS,
});
/** 100 x hits / (hits + misses), guarded by `minRequests` lookups. */
const HitRatioAlarm = z.strictObject({
  ...common,
  signal: z.literal('hit-ratio').describe(SIGNAL),
  source: z.literal('app').describe(SOURCE),
  hits: MetricName.describe('App metric counting hits.'),
  misses: MetricName.describe('App metric counting misses.'),
  minRequests: MIN_REQUESTS,
});
/** A latency in milliseconds (ALB TargetResponseTime is converted from seconds). */
const LatencyAlarm = z.strictObject({
  ...common,
  signal: z.literal('latency').describe(SIGNAL),
  source: z.enum(['alb', 'app']).describe(SOURCE),
  metric: MetricName.optional().describe(METRIC),
  statistic: Statistic.describe(STATISTIC),
});
/** 100 x (latency - baselineMs) / baselineMs: "degraded more than N % from baseline". */
const DegradationAlarm = z.strictObject({
  ...common,
  signal: z.literal('degradation').describe(SIGNAL),
  source: z.enum(['alb', 'app']).describe(SOURCE),
  metric: MetricName.optional().describe(METRIC),
  statistic: Statistic.describe(STATISTIC),
  baselineMs: z.number().positive().describe('The latency the degradation is measured from, in ms.'),
});
/** ECS Container Insights: 100 x used / reserved memory or CPU of the service. */
const UtilizationAlarm = z.strictObject({
  ...common,
  signal: z.literal('utilization').describe(SIGNAL),
  source: z.literal('ecs').describe(SOURCE),
  resource: z.enum(['memory', 'cpu']).describe("Which of the service's reservations is measured."),
});
/** ECS Container Insights: memory used by the service's tasks, in MB. */
const MemoryAlarm = z.strictObject({
  ...common,
  signal: z.literal('memory-mb').describe(SIGNAL),
  source: z.literal('ecs').describe(SOURCE),
  statistic: Statistic.default('Maximum').describe(STATISTIC),
});
/** The health probe's high-resolution `Availability` (1 up, 0 down). */
const AvailabilityAlarm = z.strictObject({
  ...common,
  signal: z.literal('availability').describe(SIGNAL),
  source: z.literal('probe').describe(SOURCE),
});
/** Growth of a size gauge (bytes), in MB per day. */
const GrowthAlarm = z.strictObject({
  ...common,
  signal: z.literal('growth').describe(SIGNAL),
  source: z.literal('app').describe(SOURCE),
  metric: MetricName.describe('App gauge of a size in bytes.'),
});

export const AlarmSpec = z.discriminatedUnion('signal', [
  RateAlarm,
  HitRatioAlarm,
  LatencyAlarm,
  DegradationAlarm,
  UtilizationAlarm,
  MemoryAlarm,
  AvailabilityAlarm,
  GrowthAlarm,
]);
export type AlarmSpec = z.infer<typeof AlarmSpec>;
export type AlarmSpecInput = z.input<typeof AlarmSpec>;

/** Common defaults of the seed alarms: one-minute periods, no data is not a breach. */
const minute = { periodSeconds: 60, treatMissingData: 'notBreaching' } as const;

/** The runbooks' thresholds, by id. Rollback or notify is the decision matrix's call. */
export const SEED_ALARMS: Readonly<Record<string, AlarmSpecInput>> = {
  // Seed 001: automatic rollback conditions, and the epics' rollback triggers.
  's001-memory-op-latency': {
    seed: '001',
    title: 'Memory operation response time > 200 ms (2x baseline)',
    signal: 'latency',
    source: 'app',
    metric: 'MemoryOperationLatency',
    statistic: 'p95',
    comparison: 'GreaterThanThreshold',
    threshold: 200,
    ...minute,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    issueType: 'performance-degradation',
    severity: 'medium',
  },
  's001-error-rate': {
    seed: '001',
    title: 'Memory operation error rate > 1 %',
    signal: 'rate',
    source: 'app',
    numerator: 'MemoryOperationErrors',
    denominator: 'MemoryOperations',
    minRequests: 50,
    comparison: 'GreaterThanThreshold',
    threshold: 1,
    ...minute,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    issueType: 'critical-bug',
    severity: 'high',
  },
  's001-api-memory-utilization': {
    seed: '001',
    title: 'API memory utilisation > 90 %',
    signal: 'utilization',
    source: 'ecs',
    resource: 'memory',
    service: 'api',
    comparison: 'GreaterThanThreshold',
    threshold: 90,
    ...minute,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    issueType: 'performance-degradation',
    severity: 'medium',
  },
  's001-sidecar-memory-utilization': {
    seed: '001',
    title: 'Sidecar memory utilisation > 90 %',
    signal: 'utilization',
    source: 'ecs',
    resource: 'memory',
    service: 'sidecar',
    comparison: 'GreaterThanThreshold',
    threshold: 90,
    ...minute,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    issueType: 'performance-degradation',
    severity: 'medium',
  },
  's001-api-down': {
    seed: '001',
    title: 'API down > 30 s (health probe)',
    signal: 'availability',
    source: 'probe',
    service: 'api',
    comparison: 'LessThanThreshold',
    threshold: 1,
    periodSeconds: 10,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    // No probe data means the probe did not run, not that the API is down (the probe's own alarm covers it).
    treatMissingData: 'notBreaching',
    issueType: 'critical-bug',
    severity: 'high',
  },
  's001-sidecar-down': {
    seed: '001',
    title: 'Sidecar down > 30 s (health probe)',
    signal: 'availability',
    source: 'probe',
    service: 'sidecar',
    comparison: 'LessThanThreshold',
    threshold: 1,
    periodSeconds: 10,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    treatMissingData: 'notBreaching',
    issueType: 'critical-bug',
    severity: 'high',
  },
  's001-cache-hit-ratio': {
    seed: '001',
    title: 'Cache hit ratio < 50 %',
    signal: 'hit-ratio',
    source: 'app',
    hits: 'CacheHits',
    misses: 'CacheMisses',
    minRequests: 50,
    comparison: 'LessThanThreshold',
    threshold: 50,
    ...minute,
    evaluationPeriods: 5,
    datapointsToAlarm: 5,
    issueType: 'performance-degradation',
    severity: 'low',
  },
  's001-db-query-time': {
    seed: '001',
    title: 'Database query time > 100 ms',
    signal: 'latency',
    source: 'app',
    metric: 'DatabaseQueryTime',
    statistic: 'p95',
    comparison: 'GreaterThanThreshold',
    threshold: 100,
    ...minute,
    evaluationPeriods: 5,
    datapointsToAlarm: 5,
    issueType: 'performance-degradation',
    severity: 'low',
  },
  // Seed 003: the phased rollout's monitoring checklist.
  's003-error-rate': {
    seed: '003',
    title: 'API error rate > 0.1 % for 5 min',
    signal: 'rate',
    source: 'app',
    numerator: 'Errors',
    denominator: 'Requests',
    minRequests: 100,
    comparison: 'GreaterThanThreshold',
    threshold: 0.1,
    ...minute,
    evaluationPeriods: 5,
    datapointsToAlarm: 5,
    issueType: 'minor-bug',
    severity: 'low',
  },
  's003-p95-latency': {
    seed: '003',
    title: 'API p95 latency > 500 ms for 5 min',
    signal: 'latency',
    source: 'app',
    metric: 'RequestLatency',
    statistic: 'p95',
    comparison: 'GreaterThanThreshold',
    threshold: 500,
    ...minute,
    evaluationPeriods: 5,
    datapointsToAlarm: 5,
    issueType: 'performance-degradation',
    severity: 'low',
  },
  's003-container-memory': {
    seed: '003',
    title: 'API container memory > 450 MB',
    signal: 'memory-mb',
    source: 'ecs',
    service: 'api',
    statistic: 'Maximum',
    comparison: 'GreaterThanThreshold',
    threshold: 450,
    ...minute,
    evaluationPeriods: 2,
    datapointsToAlarm: 2,
    issueType: 'performance-degradation',
    severity: 'low',
  },
  's003-cpu': {
    seed: '003',
    title: 'API CPU > 80 % for 5 min',
    signal: 'utilization',
    source: 'ecs',
    resource: 'cpu',
    service: 'api',
    comparison: 'GreaterThanThreshold',
    threshold: 80,
    ...minute,
    evaluationPeriods: 5,
    datapointsToAlarm: 5,
    issueType: 'performance-degradation',
    severity: 'low',
  },
  's003-context-pack-p95': {
    seed: '003',
    title: 'Context pack generation p95 > 2 s',
    signal: 'latency',
    source: 'app',
    metric: 'ContextPackGenerationTime',
    statistic: 'p95',
    comparison: 'GreaterThanThreshold',
    threshold: 2000,
    ...minute,
    evaluationPeriods: 5,
    datapointsToAlarm: 5,
    issueType: 'performance-degradation',
    severity: 'low',
  },
  's003-db-growth': {
    seed: '003',
    title: 'Database growth > 10 MB/day',
    signal: 'growth',
    source: 'app',
    metric: 'DatabaseSizeBytes',
    comparison: 'GreaterThanThreshold',
    threshold: 10,
    periodSeconds: 3600,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    treatMissingData: 'notBreaching',
    issueType: 'performance-degradation',
    severity: 'low',
  },
  // Seed 002: the database cutover's rollback trigger and success criterion.
  's002-error-rate': {
    seed: '002',
    title: 'Error rate > 5 % (database cutover rollback trigger)',
    signal: 'rate',
    source: 'app',
    numerator: 'Errors',
    denominator: 'Requests',
    minRequests: 50,
    comparison: 'GreaterThanThreshold',
    threshold: 5,
    ...minute,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    issueType: 'config-error',
    severity: 'medium',
  },
  's002-vector-search-latency': {
    seed: '002',
    title: 'Vector search latency > 100 ms',
    signal: 'latency',
    source: 'app',
    metric: 'VectorSearchLatency',
    statistic: 'p95',
    comparison: 'GreaterThanThreshold',
    threshold: 100,
    ...minute,
    evaluationPeriods: 5,
    datapointsToAlarm: 5,
    issueType: 'performance-degradation',
    severity: 'low',
  },
  // Seed 004: when to roll back.
  's004-error-rate': {
    seed: '004',
    title: 'Error rate > 10 % for 5 min',
    signal: 'rate',
    source: 'app',
    numerator: 'Errors',
    denominator: 'Requests',
    minRequests: 50,
    comparison: 'GreaterThanThreshold',
    threshold: 10,
    ...minute,
    evaluationPeriods: 5,
    datapointsToAlarm: 5,
    issueType: 'critical-bug',
    severity: 'high',
  },
  's004-degradation': {
    seed: '004',
    title: 'Performance degraded > 50 % from baseline',
    signal: 'degradation',
    source: 'app',
    metric: 'MemoryOperationLatency',
    statistic: 'p95',
    // Seed 001 puts the memory-operation baseline at 100 ms (200 ms is "2x baseline").
    baselineMs: 100,
    comparison: 'GreaterThanThreshold',
    threshold: 50,
    ...minute,
    evaluationPeriods: 5,
    datapointsToAlarm: 5,
    issueType: 'performance-degradation',
    severity: 'medium',
  },
};

/** Where the alarms read their metrics. */
export const MonitoringConfig = z.strictObject({
  alb: z
    .strictObject({
      loadBalancer: z
        .string()
        .regex(/^app\/[A-Za-z0-9-]+\/[0-9a-f]+$/, 'e.g. app/memory-prod/50dc6c495c0c9188')
        .describe('The `LoadBalancer` dimension, e.g. `app/memory-prod/50dc6c495c0c9188`.'),
      targetGroup: z
        .string()
        .regex(/^targetgroup\/[A-Za-z0-9-]+\/[0-9a-f]+$/, 'e.g. targetgroup/memory-api/73e2d6bc24d8a067')
        .describe('The `TargetGroup` dimension, e.g. `targetgroup/memory-api/73e2d6bc24d8a067`.'),
    })
    .optional()
    .describe('The API\'s ALB target group, for alarms with `source: "alb"`.'),
  app: z
    .strictObject({
      namespace: z
        .string()
        .regex(/^[A-Za-z0-9./#:_-]{1,255}$/)
        .default('MemoryStack')
        .describe("CloudWatch namespace of the app's metrics."),
      dimensions: z
        .record(z.string().min(1), z.string().min(1))
        .optional()
        .describe('Dimensions of the app\'s metrics. Default: `{ "Environment": "<stage name>" }`.'),
    })
    .default({ namespace: 'MemoryStack' })
    .describe('The app\'s own metrics, for alarms with `source: "app"`.'),
  probe: z
    .strictObject({
      rounds: z.number().int().min(1).max(12).default(6).describe('Probes per minute.'),
      intervalSeconds: z.number().int().min(1).max(30).default(10).describe('Seconds between two probes.'),
    })
    .default({ rounds: 6, intervalSeconds: 10 })
    .describe('The health probe: `rounds` probes `intervalSeconds` apart, started every minute.'),
});
export type MonitoringConfig = z.infer<typeof MonitoringConfig>;

export const IncidentsConfig = z.strictObject({
  detectionBudgetSeconds: z
    .number()
    .int()
    .min(10)
    .max(3600)
    .default(300)
    .describe(
      "Seed 004's detect -> decide budget: a rollback alarm's window (period x evaluation periods) must fit.",
    ),
  cooldownMinutes: z
    .number()
    .int()
    .min(1)
    .max(1440)
    .default(30)
    .describe('Minutes an incident keeps absorbing alarms after it closes (one rollback per alarm storm).'),
  maxChangeAgeHours: z
    .number()
    .min(0.1)
    .max(720)
    .default(24)
    .describe('A completed change older than this is not undone by an alarm.'),
  settleSeconds: z
    .number()
    .int()
    .min(0)
    .max(60)
    .default(5)
    .describe('Seconds the router waits for the other alarms of a storm before it decides.'),
  maxAlarmAgeMinutes: z
    .number()
    .int()
    .min(1)
    .max(1440)
    .default(15)
    .describe(
      'An alarm event whose state changed longer ago than this is refused by the router (old evidence must not undo a later change). Three detection budgets by default.',
    ),
});
export type IncidentsConfig = z.infer<typeof IncidentsConfig>;

/**
 * Per-alarm overrides in `cdk.json`: any field of a seed alarm (a field set to `null` is removed),
 * a whole new alarm, or `null` to drop a seed alarm.
 */
export const AlarmOverrides = z.record(AlarmId, z.union([z.null(), z.record(z.string(), z.unknown())]));
