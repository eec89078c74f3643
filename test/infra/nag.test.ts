import { Stack, Stage, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, describe, expect, it } from 'vitest';
import { cdkJsonStages, stage, synthApp } from './support';

const vpcStage = stage({
  name: 'private',
  network: {
    vpcId: 'vpc-0abc',
    availabilityZones: ['eu-west-1a'],
    subnetIds: ['subnet-0aaa'],
    securityGroupIds: ['sg-0ccc'],
  },
  notifications: { emails: ['oncall@example.com'] },
});
const synth = synthApp([...cdkJsonStages(), vpcStage]);
afterAll(() => synth.cleanup());

interface Ack {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
  readonly scope: IConstruct;
}

function acknowledgements(root: IConstruct): Ack[] {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({
          path: c.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
          scope: c,
        })),
      ),
  );
}

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged (errors or warnings) in staging, prod and a VPC stage', () => {
    const report = new AwsSolutionsChecks().validateScope(synth.app);
    const findings = report.violations.map(
      (v) => `${v.ruleName} ${v.severity} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('as the registered validation plugin, lets the app synthesize', () => {
    const withPlugin = synthApp(cdkJsonStages(), { nag: true });
    try {
      expect(() => withPlugin.app.synth()).not.toThrow();
    } finally {
      withPlugin.cleanup();
    }
  });

  it('as the registered validation plugin, fails the synth on a new finding', async () => {
    const withPlugin = synthApp(cdkJsonStages(), { nag: true });
    const { Bucket } = await import('aws-cdk-lib/aws-s3');
    try {
      new Bucket(withPlugin.stacks[0] as Stack, 'Unlogged', { enforceSSL: true });
      expect(() => withPlugin.app.synth()).toThrow(/AwsSolutions-S1/);
    } finally {
      withPlugin.cleanup();
    }
  });

  const acks = acknowledgements(synth.app);

  it('every acknowledgement carries a specific reason', () => {
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) expect(a.reason.trim().length, `${a.path} ${a.id}`).toBeGreaterThan(40);
  });

  it('acknowledgements sit on single resources, never on a stack or the app', () => {
    for (const a of acks) {
      expect(Stack.isStack(a.scope) || Stage.isStage(a.scope), a.path).toBe(false);
    }
  });

  it('acknowledges only the known, finding-scoped cases', () => {
    const kinds = new Set(
      acks.map((a) =>
        a.id
          .replace(/<[^>]+\.Arn>\/change-records\/[a-z0-9-]+\/\*/, '<bucket>/change-records/<env>/*')
          .replace(/<[^>]+\.Arn>\/incidents\/[a-z0-9-]+\/\*/, '<bucket>/incidents/<env>/*')
          .replace(/<[^>]+\.Arn>\/drills\/[a-z0-9-]+\/\*/, '<bucket>/drills/<env>/*')
          .replace(/<[^>]+\.Arn>\/rollouts\/[a-z0-9-]+\/\*/, '<bucket>/rollouts/<env>/*')
          .replace(/execution:<[^>]+\.Name>:\*/, 'execution:<machine>:*')
          .replace(/<[^>]+\.Arn>\/(backups|task-results)\/[a-z0-9-]+\/\*/, '<bucket>/$1/<env>/*')
          .replace(/task-definition\/[A-Za-z0-9]+:\*/, 'task-definition/<family>:*')
          .replace(/:task\/[a-z0-9-]+\/\*/, ':task/<cluster>/*')
          .replace(/:parameter\/switchback\/[a-z0-9-]+\/\*/, ':parameter/switchback/<env>/*')
          .replace(
            /:(service-deployment|service-revision)\/[a-z0-9-]+\/[a-z0-9-]+\/\*/,
            ':$1/<cluster>/<service>/*',
          ),
      ),
    );
    expect([...kinds].sort()).toEqual([
      'AwsSolutions-ECS2',
      'AwsSolutions-IAM5[Resource::*]',
      'AwsSolutions-IAM5[Resource::<bucket>/backups/<env>/*]',
      'AwsSolutions-IAM5[Resource::<bucket>/change-records/<env>/*]',
      'AwsSolutions-IAM5[Resource::<bucket>/drills/<env>/*]',
      'AwsSolutions-IAM5[Resource::<bucket>/incidents/<env>/*]',
      'AwsSolutions-IAM5[Resource::<bucket>/rollouts/<env>/*]',
      'AwsSolutions-IAM5[Resource::<bucket>/task-results/<env>/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service-deployment/<cluster>/<service>/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service-revision/<cluster>/<service>/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/<family>:*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<cluster>/*]',
      // The operator policy: the CLI's discovery parameters of the stage (lib/operator-policy.ts).
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/switchback/<env>/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<machine>:*]',
      'AwsSolutions-S1',
      'AwsSolutions-SQS3',
    ]);
    // SQS3 only for the backup schedules' dead-letter queue (it is the dead-letter queue).
    expect(acks.filter((a) => a.id === 'AwsSolutions-SQS3').map((a) => a.path)).toEqual(
      synth.stacks
        .filter((s) => s.data?.scheduleDeadLetters)
        .map((s) => `${s.node.path}/Data/ScheduleDeadLetters`),
    );
    // S1 only for the access log bucket itself.
    expect(acks.filter((a) => a.id === 'AwsSolutions-S1').map((a) => a.path)).toEqual(
      synth.stacks.map((s) => `${s.node.path}/Backups/AccessLogs`),
    );
  });

  it('the VPC stage explains the ENI permissions where it grants them', () => {
    const vpcAcks = acks.filter(
      (a) => a.path.startsWith('Switchback-private/Step-') && a.id === 'AwsSolutions-IAM5[Resource::*]',
    );
    const withEni = vpcAcks.filter((a) => a.reason.includes('ec2:CreateNetworkInterface')).map((a) => a.path);
    expect(withEni.sort()).toEqual([
      'Switchback-private/Step-check-health/Role',
      'Switchback-private/Step-database-check/Role',
      'Switchback-private/Step-feature-check/Role',
      'Switchback-private/Step-health-probe/Role',
      'Switchback-private/Step-migrate-vectors/Role',
      'Switchback-private/Step-observe-hold/Role',
      'Switchback-private/Step-smoke-test/Role',
    ]);
  });
});
