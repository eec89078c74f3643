import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Role } from 'aws-cdk-lib/aws-iam';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { afterAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../functions';
import { GATE_METRICS_ENV, GateMetricsSpec } from '../../functions/shared/gate-metrics';
import { resolveAlarms } from '../../lib/config/alarm-readiness';
import { gateMetricsSpec } from '../../lib/config/feature-rollout-schema';
import { parseStage, StageConfigError, toRuntimeConfig } from '../../lib/config/stage';
import { HouseFunction } from '../../lib/house-function';
import { Procedure, type ProcedureBinding } from '../../lib/procedure';
import { PROCEDURES, type SwitchbackStack } from '../../lib/switchback-stack';
import {
  cdkJsonStages,
  deployedDefinition,
  flat,
  grantPairs,
  resourceOf,
  roleStatements,
  scratchApp,
  stage,
  stepBaseline,
  synthApp,
  toArray,
} from './support';

const synth = synthApp(cdkJsonStages());
afterAll(() => synth.cleanup());
const stack = synth.stacks[0] as SwitchbackStack;
const template = Template.fromStack(stack);
const staging = synth.stages[0]!;

const ARN = 'arn:<AWS::Partition>';
const RA = '<AWS::Region>:<AWS::AccountId>';
const FLAG = `${ARN}:ssm:${RA}:parameter/switchback/staging/features/memory-context`;
const PAUSED = `${ARN}:ssm:${RA}:parameter/switchback/staging/automation/paused`;

/** Every Allow (action on resource) of a role: its default policy and any policy attached to it. */
function allGrants(role: Role): string[] {
  const roleRef = stack.resolve(role.roleName);
  const attached = Object.values(template.findResources('AWS::IAM::Policy')).filter(
    (p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([roleRef]),
  );
  return attached
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Record<string, unknown>[])
    .filter((s) => s.Effect === 'Allow')
    .flatMap((s) =>
      toArray(s.Action as string | string[]).flatMap((a) =>
        toArray(s.Resource).map((r) => `${a} on ${flat(stack, r)}`),
      ),
    )
    .sort();
}
const grants = (step: StepName) => allGrants(stack.functions[step].role);
const baseline = (step: StepName) => stepBaseline(stack, step);
const p0Names = resolveAlarms(staging, { deployedProcedures: PROCEDURES })
  .filter((a) => a.decision.priority === 'P0')
  .map((a) => a.name);

describe('feature rollout: step permissions (staging from cdk.json)', () => {
  const bucket = flat(stack, stack.backups.bucket.bucketArn);
  const key = flat(stack, stack.backups.encryptionKey?.keyArn);
  const rolloutLogs = [
    `s3:GetObject on ${bucket}/rollouts/staging/*`,
    `s3:PutObject on ${bucket}/rollouts/staging/*`,
    `s3:ListBucket on ${bucket}`,
    `kms:GenerateDataKey on ${key}`,
    `kms:Decrypt on ${key}`,
  ];

  it('only rollout and disable-feature may write features/memory-context, and no other flag', () => {
    expect(grants('rollout')).toEqual(
      [
        ...baseline('rollout'),
        ...rolloutLogs,
        `ssm:GetParameter on ${FLAG}`,
        `ssm:PutParameter on ${FLAG}`,
        // A completed or rolled back rollout is a journal entry (what the router may undo).
        `dynamodb:PutItem on ${flat(stack, stack.journal.table.tableArn)}`,
        // The kill switch, read before each phase that changes the flag; never written.
        `ssm:GetParameter on ${PAUSED}`,
      ].sort(),
    );
    expect(grants('disable-feature')).toEqual(
      [...baseline('disable-feature'), `ssm:GetParameter on ${FLAG}`, `ssm:PutParameter on ${FLAG}`].sort(),
    );
  });

  it('the gate reads its metrics (GetMetricData on "*" only), the P0 alarms by name, the flag, and the rollout logs', () => {
    expect(p0Names.length).toBeGreaterThan(0);
    expect(grants('evaluate-gate')).toEqual(
      [
        ...baseline('evaluate-gate'),
        ...rolloutLogs,
        `ssm:GetParameter on ${FLAG}`,
        'cloudwatch:GetMetricData on *',
        ...p0Names.map((n) => `cloudwatch:DescribeAlarms on ${ARN}:cloudwatch:${RA}:alarm:${n}`),
      ].sort(),
    );
    const statements = roleStatements(stack, stack.functions['evaluate-gate'].role);
    expect(statements.find((s) => s.actions.includes('s3:ListBucket'))?.condition).toEqual({
      StringLike: { 's3:prefix': ['rollouts/staging/*'] },
    });
  });

  it('request-approval writes only rollout logs; feature-input and feature-check get nothing but logs and tracing', () => {
    expect(grants('request-approval')).toEqual([...baseline('request-approval'), ...rolloutLogs].sort());
    expect(grants('feature-input')).toEqual(baseline('feature-input').sort());
    expect(grants('feature-check')).toEqual(baseline('feature-check').sort());
  });

  it('the gate alone is configured with the metrics spec, built from the stage and its P0 alarms', () => {
    for (const [step, fn] of Object.entries(stack.functions)) {
      const env = (
        resourceOf(template, stack, fn.function).Properties.Environment as {
          Variables: Record<string, unknown>;
        }
      ).Variables;
      if (step !== 'evaluate-gate') {
        expect(env[GATE_METRICS_ENV], step).toBeUndefined();
        continue;
      }
      const spec = GateMetricsSpec.parse(JSON.parse(env[GATE_METRICS_ENV] as string));
      expect(spec).toEqual(gateMetricsSpec(staging, p0Names));
      expect(spec.metrics).toMatchObject({
        requests: {
          namespace: 'MemoryStack',
          metricName: 'Requests',
          dimensions: { Environment: 'staging' },
          stat: 'Sum',
        },
        errors: { metricName: 'Errors', stat: 'Sum' },
        p95LatencyMs: { metricName: 'RequestLatency', stat: 'p95' },
        memoryMb: {
          namespace: 'ECS/ContainerInsights',
          metricName: 'MemoryUtilized',
          dimensions: { ClusterName: 'memory-staging', ServiceName: 'memory-api' },
        },
        cpuPercent: { namespace: 'AWS/ECS', metricName: 'CPUUtilization', stat: 'Maximum' },
      });
    }
  });
});

describe('feature rollout: state machines', () => {
  const rollout = stack.procedures['feature-rollout'];
  const disable = stack.procedures['feature-disable'];

  it('the rollout may start only feature-disable (the nested emergency disable) and invoke the approval function', () => {
    const account = `${ARN}:states:${RA}`;
    const grantsOf = grantPairs(roleStatements(stack, rollout.stateMachine.role));
    const executions = `${account}:execution:${flat(stack, disable.stateMachine.stateMachineName)}:*`;
    expect(grantsOf.filter((g) => g.startsWith('states:'))).toEqual([
      `states:DescribeExecution on ${executions}`,
      `states:StartExecution on ${flat(stack, disable.stateMachine.stateMachineArn)}`,
      `states:StopExecution on ${executions}`,
    ]);
    expect(grantsOf).toContain(
      `lambda:InvokeFunction on ${flat(stack, stack.functions['request-approval'].functionArn)}`,
    );
    expect(
      grantPairs(roleStatements(stack, disable.stateMachine.role)).filter((g) => g.startsWith('states:')),
    ).toEqual([]);
  });

  it('the approval task waits with the timeout from the input, in the definition deployed', () => {
    const def = deployedDefinition(synth, resourceOf(template, stack, rollout.stateMachine));
    expect(def).toContain('arn:aws:states:::lambda:invoke.waitForTaskToken');
    // The asset carries the definition minified (no indentation): the same field, exactly.
    expect(def).toContain('"TimeoutSecondsPath":"$.Payload.timeoutSeconds"');
  });

  it('both are published for the CLI (start, approve)', () => {
    for (const name of ['feature-rollout', 'feature-disable']) {
      const params = template.findResources('AWS::SSM::Parameter', {
        Properties: { Name: `/switchback/staging/procedures/${name}` },
      });
      expect(Object.keys(params)).toHaveLength(1);
    }
  });
});

describe('stage featureRollout config', () => {
  it('overrides a signal and the P0 alarms; a bad statistic fails the synth naming the field', () => {
    const custom = parseStage(
      stage({
        featureRollout: {
          metrics: {
            p95LatencyMs: {
              namespace: 'AWS/ApplicationELB',
              metricName: 'TargetResponseTime',
              dimensions: { LoadBalancer: 'app/x/1' },
              stat: 'p95',
              scale: 1000,
            },
          },
          p0Alarms: { names: ['pager-p0'], prefix: 'p0-' },
        },
      }),
    );
    const spec = gateMetricsSpec(custom, ['ignored-default']);
    expect(spec.metrics.p95LatencyMs).toMatchObject({ namespace: 'AWS/ApplicationELB', scale: 1000 });
    expect(spec.metrics.requests.metricName).toBe('Requests');
    expect(spec.p0Alarms).toEqual({ names: ['pager-p0'], prefix: 'p0-' });
    expect(() =>
      parseStage(
        stage({
          featureRollout: { metrics: { cpuPercent: { namespace: 'A', metricName: 'B', stat: 'median' } } },
        }),
      ),
    ).toThrow(StageConfigError);
    expect(() =>
      parseStage(
        stage({
          featureRollout: { metrics: { cpuPercent: { namespace: 'A', metricName: 'B', stat: 'median' } } },
        }),
      ),
    ).toThrow(/featureRollout.metrics.cpuPercent.stat: a CloudWatch statistic/);
  });

  it('a prefix grants DescribeAlarms on that prefix only, acknowledged with its reason', () => {
    const scratch = scratchApp();
    try {
      const s = new Stack(scratch.app, 'G');
      const fn = new HouseFunction(s, 'Gate', {
        step: 'evaluate-gate',
        runtimeConfig: toRuntimeConfig(parseStage(stage()), 'bucket'),
        logRetention: RetentionDays.ONE_WEEK,
      });
      fn.bindGateMetrics(
        gateMetricsSpec(
          parseStage(stage({ featureRollout: { p0Alarms: { names: [], prefix: 'p0-' } } })),
          [],
        ),
      );
      expect(grantPairs(roleStatements(s, fn.role)).filter((g) => g.startsWith('cloudwatch:'))).toEqual([
        `cloudwatch:DescribeAlarms on ${ARN}:cloudwatch:${RA}:alarm:p0-*`,
      ]);
    } finally {
      scratch.cleanup();
    }
  });
});

describe('Procedure: lambda:invoke.waitForTaskToken', () => {
  const scratch = scratchApp();
  const dir = mkdtempSync(join(tmpdir(), 'switchback-asl-'));
  afterAll(() => {
    scratch.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const make = (functionName: string) => {
    const s = new Stack(scratch.app, `W${Math.random().toString(36).slice(2, 8)}`);
    const fn = new HouseFunction(s, 'Fn', {
      step: 'request-approval',
      runtimeConfig: toRuntimeConfig(parseStage(stage()), 'bucket'),
      logRetention: RetentionDays.ONE_WEEK,
      timeout: Duration.seconds(10),
    });
    const path = join(dir, 'wait.asl.json');
    writeFileSync(
      path,
      JSON.stringify({
        StartAt: 'Wait',
        States: {
          Wait: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
            Parameters: { FunctionName: functionName, Payload: { 'taskToken.$': '$$.Task.Token' } },
            TimeoutSeconds: 5,
            End: true,
          },
        },
      }),
    );
    const binding: Record<string, ProcedureBinding> = functionName.startsWith('${')
      ? { Fn: { function: fn } }
      : {};
    const p = new Procedure(s, 'P', {
      name: 'wait',
      definitionPath: path,
      bindings: binding,
      logRetention: RetentionDays.ONE_WEEK,
      alarmTopic: new Topic(s, 'T'),
    });
    return { s, fn, p };
  };

  it('grants lambda:InvokeFunction on the function FunctionName names (the wait may outlast the function)', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an ASL placeholder, not a template
    const { s, fn, p } = make('${Fn}');
    expect(grantPairs(roleStatements(s, p.stateMachine.role)).filter((g) => g.startsWith('lambda:'))).toEqual(
      [`lambda:InvokeFunction on ${flat(s, fn.functionArn)}`],
    );
  });

  it('refuses a FunctionName that is not a placeholder (its grant could not be derived)', () => {
    expect(() => make('arn:aws:lambda:eu-west-1:123456789012:function:x')).toThrow(
      /state "Wait" must set Parameters.FunctionName to a single \$\{Placeholder\}/,
    );
  });
});
