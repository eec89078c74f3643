import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStage } from '../../lib/config/stage';
import type { SwitchbackStack } from '../../lib/switchback-stack';
import { cdkJsonStages, flat, grantPairs, roleStatements, stage, synthApp } from './support';

const synth = synthApp([
  ...cdkJsonStages().slice(0, 1),
  stage({
    name: 'extra',
    journal: {
      services: { worker: 'memory-worker' },
      watched: {
        'mcp/WORKERS': null,
        'api/LOG_LEVEL': {
          validator: { type: 'enum', values: ['debug', 'info'] },
          readers: [{ service: 'api', reads: 'per-request' }],
        },
      },
    },
  }),
]);
afterAll(() => synth.cleanup());
const [staging, extra] = synth.stacks as SwitchbackStack[];
if (!staging || !extra) throw new Error('two stacks expected');

const ARN = 'arn:<AWS::Partition>';
const RA = '<AWS::Region>:<AWS::AccountId>';
/** The rendered AWS::Events::Rule of one of the journal's rules. */
// biome-ignore lint/suspicious/noExplicitAny: a CloudFormation resource read as JSON.
function ruleOf(stack: SwitchbackStack, which: 'deploymentRule' | 'parameterRule'): any {
  const rule = stack.journal[which];
  if (!rule) throw new Error(`${stack.stackName} has no journal ${which}`);
  return Template.fromStack(stack).toJSON().Resources[stack.getLogicalId(rule.node.defaultChild as never)];
}

const SEED_KEYS = ['ENABLE_CACHING', 'AUTONOMOUS_MODE', 'WORKERS'].flatMap((k) => [`mem0/${k}`, `mcp/${k}`]);

describe('change journal (staging from cdk.json)', () => {
  const template = Template.fromStack(staging);

  it('is a retained, encrypted table keyed by environment and entry id, with TTL and point-in-time recovery', () => {
    const table = template.findResources('AWS::DynamoDB::Table', {
      Properties: { KeySchema: Match.arrayWith([{ AttributeName: 'sk', KeyType: 'RANGE' }]) },
    });
    const [id, resource] = Object.entries(table)[0] ?? [];
    expect(id).toBeDefined();
    expect(resource?.DeletionPolicy).toBe('Retain');
    expect(resource?.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      BillingMode: 'PAY_PER_REQUEST',
    });
  });

  it('takes ECS deployment events of the API and sidecar services only', () => {
    const rule = ruleOf(staging, 'deploymentRule');
    const pattern = rule.Properties.EventPattern;
    expect(pattern.source).toEqual(['aws.ecs']);
    expect(pattern['detail-type']).toEqual(['ECS Deployment State Change']);
    expect(pattern.resources.map((r: unknown) => flat(staging, r))).toEqual([
      `${ARN}:ecs:${RA}:service/memory-staging/memory-api`,
      `${ARN}:ecs:${RA}:service/memory-staging/memory-sidecar`,
    ]);
    expect(flat(staging, rule.Properties.Targets[0].Arn)).toBe(
      flat(staging, staging.functions.journal.functionArn),
    );
    expect(rule.Properties.Targets[0].RetryPolicy).toEqual({
      MaximumRetryAttempts: 8,
      MaximumEventAgeInSeconds: 21600,
    });
  });

  it("takes Parameter Store changes of seed 001's six watched parameters and the drill marker only", () => {
    const rule = ruleOf(staging, 'parameterRule');
    const pattern = rule.Properties.EventPattern;
    expect(pattern.source).toEqual(['aws.ssm']);
    expect(pattern['detail-type']).toEqual(['Parameter Store Change']);
    expect(pattern.detail.operation).toEqual(['Create', 'Update', 'Delete']);
    expect([...pattern.detail.name].sort()).toEqual(
      [...SEED_KEYS.map((k) => `/memory/staging/${k}`), '/switchback/staging/drill/marker'].sort(),
    );
  });

  it('grants the journal step a put on its table, deployment history of the protected services and the watched parameters history, nothing more', () => {
    const grants = grantPairs(roleStatements(staging, staging.functions.journal.role)).filter(
      (g) => !g.startsWith('logs:') && !g.startsWith('xray:'),
    );
    const table = flat(staging, staging.journal.table.tableArn);
    expect(grants).toEqual(
      [
        `dynamodb:PutItem on ${table}`,
        ...['memory-api', 'memory-sidecar'].flatMap((s) => [
          `ecs:ListServiceDeployments on ${ARN}:ecs:${RA}:service/memory-staging/${s}`,
          `ecs:DescribeServiceDeployments on ${ARN}:ecs:${RA}:service-deployment/memory-staging/${s}/*`,
          `ecs:DescribeServiceRevisions on ${ARN}:ecs:${RA}:service-revision/memory-staging/${s}/*`,
        ]),
        ...SEED_KEYS.map((k) => `ssm:GetParameterHistory on ${ARN}:ssm:${RA}:parameter/memory/staging/${k}`),
        `ssm:GetParameterHistory on ${ARN}:ssm:${RA}:parameter/switchback/staging/drill/marker`,
      ].sort(),
    );
    expect(grants.some((g) => g.startsWith('kms:'))).toBe(false);
  });
});

describe('change journal with extra services and overridden watched parameters', () => {
  it('adds the extra service, drops a seed parameter and watches the stage one', () => {
    const deployments = ruleOf(extra, 'deploymentRule');
    expect(deployments.Properties.EventPattern.resources.map((r: unknown) => flat(extra, r))).toContain(
      `${ARN}:ecs:${RA}:service/memory-test/memory-worker`,
    );
    const parameters = ruleOf(extra, 'parameterRule');
    const names: string[] = parameters.Properties.EventPattern.detail.name;
    expect(names).toContain('/memory/extra/api/LOG_LEVEL');
    expect(names).not.toContain('/memory/extra/mcp/WORKERS');
    expect(names).toContain('/switchback/extra/drill/marker');
    expect(names).toHaveLength(7);
  });
});

describe('journal stage configuration', () => {
  it('refuses a reader that is not a protected service, naming the field', () => {
    expect(() =>
      parseStage(
        stage({
          journal: {
            watched: {
              'x/Y': { validator: { type: 'boolean' }, readers: [{ service: 'nope', reads: 'at-start' }] },
            },
          },
        }),
      ),
    ).toThrow(/journal\.watched\.x\/Y\.readers\.0\.service: "nope" is not a protected service/);
  });

  it('refuses an integer range upside down and one parameter watched under two keys', () => {
    expect(() =>
      parseStage(
        stage({
          journal: {
            watched: {
              'a/B': {
                validator: { type: 'integer', min: 5, max: 1 },
                readers: [{ service: 'api', reads: 'at-start' }],
              },
              'c/D': {
                name: '/memory/test/mem0/WORKERS',
                validator: { type: 'boolean' },
                readers: [{ service: 'api', reads: 'at-start' }],
              },
            },
          },
        }),
      ),
    ).toThrow(
      /journal\.watched\.a\/B\.validator\.min: must not exceed max.*journal\.watched\.c\/D\.name: \/memory\/test\/mem0\/WORKERS is also watched as mem0\/WORKERS/,
    );
  });

  it('defaults to a 30 minute bake and 90 days of entries', () => {
    const s = parseStage(stage());
    expect(s.journal.bakeMinutes).toBe(30);
    expect(s.journal.retentionDays).toBe(90);
  });
});
