import { Template } from 'aws-cdk-lib/assertions';
import type { CfnPolicy } from 'aws-cdk-lib/aws-iam';
import { afterAll, describe, expect, it } from 'vitest';
import { ALARM_CATALOG_ENV, AlarmCatalog, ROLLBACK_PROCEDURES } from '../../functions/shared/alarm-catalog';
import { StageConfigError } from '../../lib/config/stage';
import { Procedure } from '../../lib/procedure';
import type { SwitchbackStack } from '../../lib/switchback-stack';
import { cdkJsonStages, flat, grantPairs, resourceOf, roleStatements, stage, synthApp } from './support';

const synth = synthApp(cdkJsonStages());
afterAll(() => synth.cleanup());
const stack = synth.stacks[0] as SwitchbackStack;
const template = Template.fromStack(stack);

type Props = Record<string, unknown>;
const alarmsByName = (t: Template) =>
  Object.fromEntries(
    Object.values(t.findResources('AWS::CloudWatch::Alarm'))
      .map((r) => r.Properties as Props)
      .filter((p) => typeof p.AlarmName === 'string')
      .map((p) => [p.AlarmName as string, p]),
  );
const alarms = alarmsByName(template);

/** An alarm's period: top level for a single metric, on every metric of a metric math alarm. */
function periodOf(p: Props): number {
  if (typeof p.Period === 'number') return p.Period;
  const periods = new Set(
    (p.Metrics as { MetricStat?: { Period: number } }[]).flatMap((m) =>
      m.MetricStat ? [m.MetricStat.Period] : [],
    ),
  );
  expect(periods.size).toBe(1);
  return [...periods][0] as number;
}
const expressionOf = (p: Props) =>
  (p.Metrics as { Expression?: string; ReturnData?: boolean }[] | undefined)?.find((m) => m.Expression)
    ?.Expression;

/**
 * The runbooks' thresholds, written out from the seeds (not derived from the code under test):
 * comparison, threshold, period (s), evaluation periods, datapoints to alarm, missing-data policy,
 * and whether the decision matrix makes it start a rollback.
 */
const DOCUMENTED: Record<string, [string, number, number, number, number, string, boolean]> = {
  // seed 001: > 200 ms; > 1 %; > 90 % memory (any service); down > 30 s (any service); cache hit < 50 %; query > 100 ms
  's001-memory-op-latency': ['GreaterThanThreshold', 200, 60, 3, 3, 'notBreaching', true],
  's001-error-rate': ['GreaterThanThreshold', 1, 60, 3, 3, 'notBreaching', true],
  's001-api-memory-utilization': ['GreaterThanThreshold', 90, 60, 3, 3, 'notBreaching', true],
  's001-sidecar-memory-utilization': ['GreaterThanThreshold', 90, 60, 3, 3, 'notBreaching', true],
  's001-api-down': ['LessThanThreshold', 1, 10, 3, 3, 'notBreaching', true],
  's001-sidecar-down': ['LessThanThreshold', 1, 10, 3, 3, 'notBreaching', true],
  's001-cache-hit-ratio': ['LessThanThreshold', 50, 60, 5, 5, 'notBreaching', false],
  's001-db-query-time': ['GreaterThanThreshold', 100, 60, 5, 5, 'notBreaching', false],
  // seed 003: > 0.1 % (5 min); p95 > 500 ms (5 min); > 450 MB; CPU > 80 % (5 min); context pack p95 > 2 s; growth > 10 MB/day
  's003-error-rate': ['GreaterThanThreshold', 0.1, 60, 5, 5, 'notBreaching', false],
  's003-p95-latency': ['GreaterThanThreshold', 500, 60, 5, 5, 'notBreaching', false],
  's003-container-memory': ['GreaterThanThreshold', 450, 60, 2, 2, 'notBreaching', false],
  's003-cpu': ['GreaterThanThreshold', 80, 60, 5, 5, 'notBreaching', false],
  's003-context-pack-p95': ['GreaterThanThreshold', 2000, 60, 5, 5, 'notBreaching', false],
  's003-db-growth': ['GreaterThanThreshold', 10, 3600, 3, 3, 'notBreaching', false],
  // seed 002: error rate > 5 %; vector search > 100 ms
  's002-error-rate': ['GreaterThanThreshold', 5, 60, 3, 3, 'notBreaching', true],
  's002-vector-search-latency': ['GreaterThanThreshold', 100, 60, 5, 5, 'notBreaching', false],
  // seed 004: error rate > 10 % for 5 min; degraded > 50 % from baseline
  's004-error-rate': ['GreaterThanThreshold', 10, 60, 5, 5, 'notBreaching', true],
  's004-degradation': ['GreaterThanThreshold', 50, 60, 5, 5, 'notBreaching', true],
};
const name = (id: string) => `switchback-staging-${id}`;
const rollbackIds = Object.entries(DOCUMENTED)
  .filter(([, d]) => d[6])
  .map(([id]) => id);

describe('alarms on the documented thresholds (staging from cdk.json)', () => {
  it('every documented threshold is an alarm, and there are no others', () => {
    expect(Object.keys(alarms).sort()).toEqual(Object.keys(DOCUMENTED).map(name).sort());
  });

  it.each(Object.entries(DOCUMENTED))(
    '%s: exactly that threshold, period, datapoints and missing-data policy',
    (id, [comparison, threshold, period, evaluations, datapoints, missing]) => {
      const p = alarms[name(id)] as Props;
      expect(p).toMatchObject({
        ComparisonOperator: comparison,
        Threshold: threshold,
        EvaluationPeriods: evaluations,
        DatapointsToAlarm: datapoints,
        TreatMissingData: missing,
        ActionsEnabled: true,
        AlarmActions: [stack.resolve(stack.notifications.topic.topicArn)],
      });
      expect(periodOf(p)).toBe(period);
    },
  );

  it('every rollback alarm decides within the detection budget (detect -> decide < 5 min, seed 004)', () => {
    for (const id of rollbackIds) {
      const p = alarms[name(id)] as Props;
      expect(periodOf(p) * (p.EvaluationPeriods as number), id).toBeLessThanOrEqual(300);
    }
  });

  it('guards every rate with a minimum request count in metric math', () => {
    const rates = ['s001-error-rate', 's003-error-rate', 's002-error-rate', 's004-error-rate'];
    for (const id of rates) {
      expect(expressionOf(alarms[name(id)] as Props), id).toMatch(
        /^IF\(requests >= \d+, 100 \* FILL\(errors, 0\) \/ requests, 0\)$/,
      );
    }
    expect(expressionOf(alarms[name('s001-error-rate')] as Props)).toContain('requests >= 50');
    expect(expressionOf(alarms[name('s001-cache-hit-ratio')] as Props)).toBe(
      'IF(FILL(hits, 0) + FILL(misses, 0) >= 50, 100 * FILL(hits, 0) / (FILL(hits, 0) + FILL(misses, 0)), 100)',
    );
  });

  it('reads each source where the stage points it: app namespace, Container Insights, the probe', () => {
    const stats = (id: string) =>
      (alarms[name(id)]?.Metrics as { MetricStat?: { Metric: Props } }[] | undefined)
        ?.flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []))
        .map((m) => ({ ...m, Dimensions: m.Dimensions }));
    expect(stats('s004-error-rate')).toEqual([
      {
        Namespace: 'MemoryStack',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'Environment', Value: 'staging' }],
      },
      {
        Namespace: 'MemoryStack',
        MetricName: 'Requests',
        Dimensions: [{ Name: 'Environment', Value: 'staging' }],
      },
    ]);
    expect(stats('s001-sidecar-memory-utilization')).toEqual(
      ['MemoryUtilized', 'MemoryReserved'].map((MetricName) => ({
        Namespace: 'ECS/ContainerInsights',
        MetricName,
        Dimensions: [
          { Name: 'ClusterName', Value: 'memory-staging' },
          { Name: 'ServiceName', Value: 'memory-sidecar' },
        ],
      })),
    );
    expect(alarms[name('s001-api-down')]).toMatchObject({
      Namespace: 'Switchback',
      MetricName: 'Availability',
      Statistic: 'Minimum',
      Period: 10,
      Dimensions: [
        { Name: 'Environment', Value: 'staging' },
        { Name: 'Target', Value: 'api' },
      ],
    });
  });

  it('reads ALB target metrics when the stage points an alarm there', () => {
    const withAlb = synthApp([
      stage({
        monitoring: {
          alb: {
            loadBalancer: 'app/memory-test/50dc6c495c0c9188',
            targetGroup: 'targetgroup/memory-api/73e2d6bc24d8a067',
          },
        },
        alarms: { 's004-error-rate': { source: 'alb' }, 's003-p95-latency': { source: 'alb' } },
      }),
    ]);
    try {
      const a = alarmsByName(Template.fromStack(withAlb.stacks[0] as SwitchbackStack));
      const metrics = a['switchback-test-s004-error-rate']?.Metrics as { MetricStat?: { Metric: Props } }[];
      expect(metrics.flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric.MetricName] : []))).toEqual([
        'HTTPCode_Target_5XX_Count',
        'RequestCount',
      ]);
      expect(metrics[1]?.MetricStat?.Metric).toMatchObject({
        Namespace: 'AWS/ApplicationELB',
        Dimensions: [
          { Name: 'LoadBalancer', Value: 'app/memory-test/50dc6c495c0c9188' },
          { Name: 'TargetGroup', Value: 'targetgroup/memory-api/73e2d6bc24d8a067' },
        ],
      });
      // ALB reports seconds: the alarm compares milliseconds with the documented 500.
      expect(expressionOf(a['switchback-test-s003-p95-latency'] as Props)).toBe('1000 * latency');
      expect(a['switchback-test-s003-p95-latency']?.Threshold).toBe(500);
    } finally {
      withAlb.cleanup();
    }
  });
});

describe('rollback trigger', () => {
  const rule = resourceOf(template, stack, stack.alarms.rule).Properties;
  const router = stack.procedures['rollback-router'].stateMachine;

  it('matches ALARM state changes of exactly the rollback alarms', () => {
    expect(rule.EventPattern).toEqual({
      source: ['aws.cloudwatch'],
      'detail-type': ['CloudWatch Alarm State Change'],
      detail: { alarmName: rollbackIds.map(name).sort(), state: { value: ['ALARM'] } },
    });
    expect(rule.State).toBe('ENABLED');
  });

  it('targets the router with a role that can only start the router', () => {
    const targets = rule.Targets as { Arn: unknown; RoleArn: unknown }[];
    expect(targets).toHaveLength(1);
    expect(targets[0]?.Arn).toEqual(stack.resolve(router.stateMachineArn));
    expect(targets[0]?.RoleArn).toEqual(stack.resolve(stack.alarms.triggerRole.roleArn));
    expect(grantPairs(roleStatements(stack, stack.alarms.triggerRole))).toEqual([
      `states:StartExecution on ${flat(stack, router.stateMachineArn)}`,
    ]);
    expect(resourceOf(template, stack, stack.alarms.triggerRole).Properties.AssumeRolePolicyDocument).toEqual(
      {
        Version: '2012-10-17',
        Statement: [
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' } },
        ],
      },
    );
  });

  it('the router has a branch for every rollback procedure, starting that procedure', () => {
    const def = JSON.parse(Procedure.definition('rollback-router')) as {
      States: Record<string, { Choices?: { StringEquals: string; Next: string }[]; Parameters?: Props }>;
    };
    const branches = def.States.ChooseRollback?.Choices ?? [];
    expect(branches.map((b) => b.StringEquals).sort()).toEqual(Object.keys(ROLLBACK_PROCEDURES).sort());
    for (const b of branches) {
      const pascal = b.StringEquals.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
      // The branch delegates the lock to the child it starts next (proven inheritance).
      const start = (def.States[b.Next] as { Next?: string } | undefined)?.Next as string;
      expect(def.States[start]?.Parameters?.StateMachineArn).toBe(`\${${pascal}StateMachineArn}`);
    }
  });

  it('the router may stop only cutover executions and start only the rollbacks', () => {
    const cutover = stack.procedures['provider-cutover'].stateMachine;
    const account = 'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>';
    const grants = grantPairs(roleStatements(stack, router.role)).filter((g) => g.startsWith('states:'));
    const rollbacks = (
      ['provider-rollback', 'code-rollback', 'config-rollback', 'feature-disable'] as const
    ).map((n) => stack.procedures[n].stateMachine);
    expect(grants).toEqual(
      [
        ...rollbacks.flatMap((rollback) => [
          `states:StartExecution on ${flat(stack, rollback.stateMachineArn)}`,
          `states:DescribeExecution on ${account}:execution:${flat(stack, rollback.stateMachineName)}:*`,
          `states:StopExecution on ${account}:execution:${flat(stack, rollback.stateMachineName)}:*`,
        ]),
        `states:StopExecution on ${account}:execution:${flat(stack, cutover.stateMachineName)}:*`,
      ].sort(),
    );
  });
});

describe('router and probe step permissions', () => {
  const ARN = 'arn:<AWS::Partition>';
  const RA = '<AWS::Region>:<AWS::AccountId>';
  const bucket = flat(stack, stack.backups.bucket.bucketArn);
  const key = flat(stack, stack.backups.encryptionKey?.keyArn);
  const own = (step: keyof SwitchbackStack['functions']) =>
    grantPairs(roleStatements(stack, stack.functions[step].role)).filter(
      (g) => !/^(logs|xray):/.test(g) && !g.startsWith('ec2:'),
    );
  /** Statements of the function's metrics policy (a policy of its own). */
  const metricsPolicy = (step: keyof SwitchbackStack['functions']) => {
    const policy = stack.functions[step].node.tryFindChild('MetricsPolicy');
    if (!policy) return undefined;
    return stack.resolve((policy.node.defaultChild as CfnPolicy).policyDocument).Statement;
  };
  const PUT_METRICS = [
    {
      Action: 'cloudwatch:PutMetricData',
      Effect: 'Allow',
      Resource: '*',
      Condition: { StringEquals: { 'cloudwatch:namespace': 'Switchback' } },
    },
  ];

  it('route-alarm reads the automation/paused kill switch only, and carries the catalog of rollback alarms', () => {
    expect(own('route-alarm')).toEqual([
      `ssm:GetParameter on ${ARN}:ssm:${RA}:parameter/switchback/staging/automation/paused`,
    ]);
    const env = resourceOf(template, stack, stack.functions['route-alarm'].function).Properties
      .Environment as {
      Variables: Record<string, string>;
    };
    // The catalog carries the stack's own account and region (tokens, resolved at deploy).
    const joined = (v: unknown): string =>
      typeof v === 'string'
        ? v
        : (v as { Ref?: string }).Ref !== undefined
          ? `<${(v as { Ref: string }).Ref}>`
          : (v as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1].map(joined).join('');
    const catalog = AlarmCatalog.parse(JSON.parse(joined(env.Variables[ALARM_CATALOG_ENV])));
    expect(catalog.origin).toEqual({ account: '<AWS::AccountId>', region: '<AWS::Region>' });
    expect(Object.keys(catalog.alarms).sort()).toEqual([...rollbackIds].sort());
    expect(catalog.namePrefix).toBe('switchback-staging-');
    expect(catalog.alarms['s004-error-rate']).toEqual({
      title: 'Error rate > 10 % for 5 min',
      seed: '004',
      service: 'api',
      issueType: 'critical-bug',
      severity: 'high',
      priority: 'P0',
      rollback: 'code',
    });
    for (const step of ['incident-report', 'health-probe', 'set-flags'] as const) {
      const vars = (
        resourceOf(template, stack, stack.functions[step].function).Properties.Environment as {
          Variables: Record<string, unknown>;
        }
      ).Variables;
      expect(vars[ALARM_CATALOG_ENV], step).toBeUndefined();
    }
  });

  it('plan-response may only read change records, the journal and the rollback alarms history (no write)', () => {
    const alarmArns = rollbackIds.map((id) => `${ARN}:cloudwatch:${RA}:alarm:${name(id)}`);
    expect(own('plan-response')).toEqual(
      [
        `s3:GetObject on ${bucket}/change-records/staging/*`,
        `s3:ListBucket on ${bucket}`,
        `kms:Decrypt on ${key}`,
        `dynamodb:Query on ${flat(stack, stack.journal.table.tableArn)}`,
        ...alarmArns.flatMap((a) => [
          `cloudwatch:DescribeAlarmHistory on ${a}`,
          `cloudwatch:DescribeAlarms on ${a}`,
        ]),
      ].sort(),
    );
  });

  it('incident-report may only write incident reports and publish to the Switchback namespace', () => {
    expect(own('incident-report')).toEqual(
      [`s3:PutObject on ${bucket}/incidents/staging/*`, `kms:GenerateDataKey on ${key}`].sort(),
    );
    expect(metricsPolicy('incident-report')).toEqual(PUT_METRICS);
  });

  it('health-probe may only publish to the Switchback namespace', () => {
    expect(own('health-probe')).toEqual([]);
    expect(metricsPolicy('health-probe')).toEqual(PUT_METRICS);
    expect(metricsPolicy('route-alarm')).toBeUndefined();
  });

  it('the probe runs every minute with its rounds, and its own failures alarm', () => {
    const rule = resourceOf(template, stack, stack.healthProbe.rule).Properties;
    expect(rule.ScheduleExpression).toBe('rate(1 minute)');
    const targets = rule.Targets as { Arn: unknown; Input: string }[];
    expect(targets.map((t) => [t.Arn, JSON.parse(t.Input)])).toEqual([
      [
        stack.resolve(stack.functions['health-probe'].function.functionArn),
        { rounds: 6, intervalMs: 10_000 },
      ],
    ]);
    expect(resourceOf(template, stack, stack.healthProbe.errorsAlarm).Properties).toMatchObject({
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [stack.resolve(stack.notifications.topic.topicArn)],
    });
  });
});

describe('readiness check at synth', () => {
  const build = (overrides: Record<string, unknown>) => synthApp([stage(overrides)]).cleanup();
  const fails = (overrides: Record<string, unknown>, ...messages: (string | RegExp)[]) => {
    let error: unknown;
    try {
      build(overrides);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StageConfigError);
    for (const m of messages) expect((error as Error).message).toMatch(m);
  };

  it('the seed alarms pass it', () => {
    expect(() => build({})).not.toThrow();
  });

  it('refuses an alarm without a decision matrix entry, naming it', () => {
    fails(
      { alarms: { 's003-cpu': { issueType: 'noisy-neighbour' } } },
      'alarm s003-cpu (switchback-test-s003-cpu): has no decision matrix entry for noisy-neighbour/low',
    );
  });

  it('refuses a rollback alarm with its actions disabled, naming it', () => {
    fails(
      { alarms: { 's004-error-rate': { actionsEnabled: false } } },
      'alarm s004-error-rate (switchback-test-s004-error-rate): starts a rollback but has its actions disabled',
    );
    // A notify-only alarm may be muted.
    expect(() => build({ alarms: { 's003-cpu': { actionsEnabled: false } } })).not.toThrow();
  });

  it('refuses an alarm without a missing-data policy, naming it', () => {
    fails(
      { alarms: { 's001-api-down': { treatMissingData: null } } },
      'alarm s001-api-down (switchback-test-s001-api-down): states no missing-data policy',
    );
  });

  it('refuses a rollback alarm whose window is longer than the detection budget, naming it', () => {
    fails(
      { alarms: { 's004-error-rate': { evaluationPeriods: 10, datapointsToAlarm: 10 } } },
      /alarm s004-error-rate \(switchback-test-s004-error-rate\): starts a rollback but its window \(60 s x 10 = 600 s\) is longer than the detection budget \(300 s\)/,
    );
    // The budget is the stage's: a longer one admits it.
    expect(() =>
      build({
        alarms: { 's004-error-rate': { evaluationPeriods: 10, datapointsToAlarm: 10 } },
        incidents: { detectionBudgetSeconds: 600 },
      }),
    ).not.toThrow();
  });

  it('refuses a rollback this stack does not deploy, a rate without a minimum count, an unconfigured source, a bad field', () => {
    fails(
      {
        alarms: {
          's003-db-growth': {
            issueType: 'data-corruption',
            severity: 'critical',
            evaluationPeriods: 1,
            periodSeconds: 300,
            datapointsToAlarm: 1,
          },
          's002-error-rate': { minRequests: null },
          's003-p95-latency': { source: 'alb' },
          's001-db-query-time': { threshold: 'fast' },
        },
      },
      // A data rollback is database-rollback's, deployed only with a `database` section.
      'alarm s003-db-growth (switchback-test-s003-db-growth): starts database-rollback, which this stack does not deploy',
      'alarm s002-error-rate (switchback-test-s002-error-rate): is a rate without a minimum request count',
      'alarm s003-p95-latency (switchback-test-s003-p95-latency): reads ALB target metrics but monitoring.alb',
      'alarm s001-db-query-time: alarms.s001-db-query-time.threshold:',
    );
  });

  it('drops a seed alarm set to null', () => {
    const s = synthApp([stage({ alarms: { 's003-db-growth': null } })]);
    try {
      const names = Object.keys(alarmsByName(Template.fromStack(s.stacks[0] as SwitchbackStack)));
      expect(names).not.toContain('switchback-test-s003-db-growth');
      expect(names).toHaveLength(Object.keys(DOCUMENTED).length - 1);
    } finally {
      s.cleanup();
    }
  });
});
