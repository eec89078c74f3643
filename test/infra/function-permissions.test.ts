import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../functions';
import { FLAG_NAMES } from '../../functions/shared/flags';
import { VPC_ENI_ACTIONS } from '../../lib/house-function';
import type { SwitchbackStack } from '../../lib/switchback-stack';
import {
  allIamStatements,
  cdkJsonStages,
  flat,
  grantPairs,
  resourceOf,
  roleStatements,
  stage,
  stepBaseline,
  synthApp,
  toArray,
} from './support';

const synth = synthApp(cdkJsonStages());
afterAll(() => synth.cleanup());
const stack = synth.stacks[0] as SwitchbackStack;
const template = Template.fromStack(stack);

const ARN = 'arn:<AWS::Partition>';
const REGION_ACCOUNT = '<AWS::Region>:<AWS::AccountId>';
const flagArn = (name: string) => `${ARN}:ssm:${REGION_ACCOUNT}:parameter/switchback/staging/${name}`;
const apiService = `${ARN}:ecs:${REGION_ACCOUNT}:service/memory-staging/memory-api`;
const sidecarService = `${ARN}:ecs:${REGION_ACCOUNT}:service/memory-staging/memory-sidecar`;

const baseline = (step: StepName) => stepBaseline(stack, step);

const grantsOf = (step: StepName) => grantPairs(roleStatements(stack, stack.functions[step].role));
const expectExactly = (step: StepName, extra: string[]) =>
  expect(grantsOf(step)).toEqual([...baseline(step), ...extra].sort());

describe('step function permissions (staging from cdk.json)', () => {
  it('validate-input and check-health get nothing beyond logs and tracing', () => {
    expectExactly('validate-input', []);
    expectExactly('check-health', []);
  });

  it('smoke-test may read only the sidecar API key parameter (aws/ssm key: no KMS grant)', () => {
    expectExactly('smoke-test', [
      `ssm:GetParameter on ${ARN}:ssm:${REGION_ACCOUNT}:parameter/memory/staging/sidecar-api-key`,
    ]);
  });

  it('change-record: objects under its prefix, a prefix-conditioned list, the bucket key via S3, flag reads, API describe', () => {
    const bucket = flat(stack, stack.backups.bucket.bucketArn);
    const key = flat(stack, stack.backups.encryptionKey?.keyArn);
    expectExactly('change-record', [
      `s3:GetObject on ${bucket}/change-records/staging/*`,
      `s3:PutObject on ${bucket}/change-records/staging/*`,
      `s3:ListBucket on ${bucket}`,
      `kms:GenerateDataKey on ${key}`,
      `kms:Decrypt on ${key}`,
      ...FLAG_NAMES.map((f) => `ssm:GetParameter on ${flagArn(f)}`),
      `ecs:DescribeServices on ${apiService}`,
      `dynamodb:PutItem on ${flat(stack, stack.journal.table.tableArn)}`,
    ]);
    const statements = roleStatements(stack, stack.functions['change-record'].role);
    expect(statements.find((s) => s.actions.includes('s3:ListBucket'))?.condition).toEqual({
      StringLike: { 's3:prefix': ['change-records/staging/*'] },
    });
    expect(statements.find((s) => s.actions.includes('kms:Decrypt'))?.condition).toEqual({
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      },
    });
  });

  it('set-flags reads every flag and writes all but the automation/paused kill switch', () => {
    const writable = FLAG_NAMES.filter((f) => f !== 'automation/paused');
    expect(writable).toHaveLength(FLAG_NAMES.length - 1);
    expectExactly('set-flags', [
      ...FLAG_NAMES.map((f) => `ssm:GetParameter on ${flagArn(f)}`),
      ...writable.map((f) => `ssm:GetParameter on ${flagArn(f)}`),
      ...writable.map((f) => `ssm:PutParameter on ${flagArn(f)}`),
    ]);
    expect(grantsOf('set-flags')).not.toContain(`ssm:PutParameter on ${flagArn('automation/paused')}`);
  });

  it('restart-service may only update the API service; check-stable may only describe it and the sidecar', () => {
    expectExactly('restart-service', [`ecs:UpdateService on ${apiService}`]);
    expectExactly('check-stable', [
      `ecs:DescribeServices on ${apiService}`,
      `ecs:DescribeServices on ${sidecarService}`,
    ]);
  });

  it('no role in the stack carries a managed policy', () => {
    const roles = template.findResources('AWS::IAM::Role');
    expect(Object.keys(roles).length).toBeGreaterThan(0);
    for (const role of Object.values(roles)) expect(role.Properties?.ManagedPolicyArns).toBeUndefined();
  });
});

/** Actions AWS only authorizes on "*": the only ones allowed there. */
const STAR_ONLY_ACTIONS = new Set([
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
  ...VPC_ENI_ACTIONS,
  // The data task's execution role pulls its image (layer and image actions are on the repository).
  'ecr:GetAuthorizationToken',
  // Only ever with a cloudwatch:namespace condition (checked in alarms.test.ts).
  'cloudwatch:PutMetricData',
  // The rollout gate reads its metrics (checked in feature-rollout.test.ts).
  'cloudwatch:GetMetricData',
]);

describe('wildcards anywhere in the stack', () => {
  const vpcSynth = synthApp([
    stage({
      network: {
        vpcId: 'vpc-0abc',
        availabilityZones: ['eu-west-1a', 'eu-west-1b'],
        subnetIds: ['subnet-0aaa', 'subnet-0bbb'],
        securityGroupIds: ['sg-0ccc'],
      },
    }),
  ]);
  afterAll(() => vpcSynth.cleanup());
  const vpcStack = vpcSynth.stacks[0] as SwitchbackStack;

  const vpcTemplate = Template.fromStack(vpcStack);
  for (const [label, t] of [
    ['staging', template],
    ['a stage in a VPC', vpcTemplate],
  ] as const) {
    it(`${label}: Resource "*" only for actions AWS supports on "*" only, and no wildcard actions`, () => {
      const statements = allIamStatements(t).filter(({ statement }) => statement.Effect === 'Allow');
      expect(statements.length).toBeGreaterThan(20);
      for (const { id, statement } of statements) {
        const actions = toArray(statement.Action as string | string[]);
        for (const a of actions) expect(a, `${id}: wildcard action`).not.toContain('*');
        if (toArray(statement.Resource).includes('*')) {
          for (const a of actions) expect(STAR_ONLY_ACTIONS.has(a), `${id}: ${a} on "*"`).toBe(true);
        }
      }
    });
  }

  it("only the steps that call the app or the databases (health, smoke, probe, feature check, the hold's observation, migration, database checks) are placed in the VPC, with the ENI permissions", () => {
    const inVpc: StepName[] = [
      'check-health',
      'smoke-test',
      'health-probe',
      'feature-check',
      'observe-hold',
      'migrate-vectors',
      'database-check',
    ];
    for (const [step, fn] of Object.entries(vpcStack.functions) as [
      StepName,
      (typeof vpcStack.functions)[StepName],
    ][]) {
      const cfn = resourceOf(vpcTemplate, vpcStack, fn.function).Properties.VpcConfig;
      const eni = grantPairs(roleStatements(vpcStack, fn.role)).filter((g) => g.startsWith('ec2:'));
      if (inVpc.includes(step)) {
        expect(cfn).toEqual({ SubnetIds: ['subnet-0aaa', 'subnet-0bbb'], SecurityGroupIds: ['sg-0ccc'] });
        expect(eni).toContain('ec2:CreateNetworkInterface on *');
      } else {
        expect(cfn, step).toBeUndefined();
        expect(eni, step).toEqual([]);
      }
    }
  });
});
