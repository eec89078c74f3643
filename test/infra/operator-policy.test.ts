import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import type { SwitchbackStack } from '../../lib/switchback-stack';
import { cdkJsonStages, flat, synthApp, toArray } from './support';

const SERVICE_PREFIX: Record<string, string> = { ssm: 'ssm', sfn: 'states', dynamodb: 'dynamodb', s3: 's3' };

/**
 * Every AWS call the CLI's source makes, as IAM actions: each `new XCommand(` and `paginateX(` of
 * an `@aws-sdk/client-*` import in cli/, and the calls of the two adapters the CLI uses.
 */
function cliActions(): string[] {
  const dir = join(__dirname, '..', '..', 'cli');
  const actions = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(dir, file), 'utf8');
    for (const m of source.matchAll(
      /import\s*(?:type\s*)?{([^}]*)}\s*from\s*'@aws-sdk\/client-([a-z0-9-]+)'/g,
    )) {
      const service = SERVICE_PREFIX[m[2] as string];
      for (const raw of (m[1] as string).split(',')) {
        const name = raw.trim().replace(/^type\s+/, '');
        const op = name.endsWith('Command')
          ? name.slice(0, -'Command'.length)
          : name.startsWith('paginate')
            ? name.slice('paginate'.length)
            : undefined;
        if (!op || !source.match(new RegExp(`\\b${name}\\(`))) continue;
        if (!service) throw new Error(`${file}: calls @aws-sdk/client-${m[2]}, which the test does not map`);
        actions.add(`${service}:${op}`);
      }
    }
  }
  // `backups`: S3BlobStore.list (ListObjectsV2 is authorized as s3:ListBucket) and .get, through
  // the bucket key; `history`: DynamoJournalStore.list (a paginated Query).
  for (const a of ['s3:ListBucket', 's3:GetObject', 'kms:Decrypt', 'dynamodb:Query']) actions.add(a);
  return [...actions].sort();
}

describe('operator policy (staging from cdk.json)', () => {
  const synth = synthApp(cdkJsonStages());
  afterAll(() => synth.cleanup());
  const stack = synth.stacks[0] as SwitchbackStack;
  const template = Template.fromStack(stack as Stack);
  const policies = template.findResources('AWS::IAM::ManagedPolicy');
  const [onlyPolicy] = Object.values(policies);
  if (!onlyPolicy) throw new Error('no AWS::IAM::ManagedPolicy in the template');
  const statements = (onlyPolicy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] })
    .Statement;
  const bySid = Object.fromEntries(statements.map((s) => [s.Sid as string, s]));
  const resources = (sid: string) =>
    toArray(bySid[sid]?.Resource)
      .map((r) => flat(stack, r))
      .sort();
  const ref = (v: string) => flat(stack, v);

  it('is one managed policy, attached to nobody by the stack, and output for the operators', () => {
    expect(Object.keys(policies)).toHaveLength(1);
    const [id, policy] = Object.entries(policies)[0] as [string, { Properties: Record<string, unknown> }];
    for (const attach of ['Roles', 'Users', 'Groups']) expect(policy.Properties[attach]).toBeUndefined();
    expect(template.toJSON().Outputs.OperatorPolicyArn.Value).toEqual({ Ref: id });
  });

  it('grants exactly the calls the CLI makes, and nothing else', () => {
    const granted = statements.flatMap((s) => toArray(s.Action as string | string[])).sort();
    expect(new Set(granted).size).toBe(granted.length);
    expect(granted).toEqual(cliActions());
    // What the scan finds today (a new call in cli/ fails the line above until the policy grants it).
    expect(cliActions()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'kms:Decrypt',
      's3:GetObject',
      's3:ListBucket',
      'ssm:GetParameter',
      'ssm:GetParametersByPath',
      'ssm:PutParameter',
      'states:DescribeExecution',
      'states:GetExecutionHistory',
      'states:ListExecutions',
      'states:SendTaskFailure',
      'states:SendTaskSuccess',
      'states:StartExecution',
      'states:StopExecution',
    ]);
    for (const s of statements) expect(s.Effect).toBe('Allow');
  });

  it("scopes each call to this stack's resources", () => {
    const published = Object.values(template.findResources('AWS::SSM::Parameter'))
      .filter((p) => String(p.Properties.Name).startsWith('/switchback/staging/procedures/'))
      .map((p) => flat(stack, p.Properties.Value));
    expect(published.length).toBeGreaterThan(8);
    expect(resources('StartAndList')).toEqual([...published].sort());
    const machines = Object.values(stack.procedures).map((p) => p.stateMachine);
    expect(resources('WatchAndAbort')).toEqual(
      expect.arrayContaining(
        machines.map(
          (m) =>
            `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${ref(m.stateMachineName)}:*`,
        ),
      ),
    );
    expect(resources('WatchAndAbort')).toHaveLength(published.length);
    expect(resources('Approve')).toEqual([
      ref(stack.procedures['feature-rollout'].stateMachine.stateMachineArn),
    ]);
    expect(resources('Discovery')).toEqual([
      'arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/switchback/staging',
      'arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/switchback/staging/*',
    ]);
    expect(resources('PauseResume')).toEqual([
      'arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/switchback/staging/automation/paused',
    ]);
    expect(resources('Lock')).toEqual([ref(stack.lock.table.tableArn)]);
    expect(resources('History')).toEqual([ref(stack.journal.table.tableArn)]);
    expect(resources('ListBackups')).toEqual([ref(stack.backups.bucket.bucketArn)]);
    // switchback backups (manifests) and switchback drills (drill reports), this environment's only.
    expect(bySid.ListBackups?.Condition).toEqual({
      StringLike: { 's3:prefix': ['backups/staging/*', 'drills/staging/*'] },
    });
    expect(resources('ReadBackups')).toEqual([
      ref(stack.backups.bucket.arnForObjects('backups/staging/*')),
      ref(stack.backups.bucket.arnForObjects('drills/staging/*')),
    ]);
    expect(resources('DecryptBackups')).toEqual([ref(stack.backups.encryptionKey?.keyArn as string)]);
    expect(flat(stack, bySid.DecryptBackups?.Condition)).toContain('kms:ViaService');
  });
});
