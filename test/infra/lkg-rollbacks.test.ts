import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import type { StepName } from '../../functions';
import { ALARM_CATALOG_ENV, AlarmCatalog, alarmName } from '../../functions/shared/alarm-catalog';
import type { SwitchbackStack } from '../../lib/switchback-stack';
import {
  cdkJsonStages,
  flat,
  grantPairs,
  resourceOf,
  roleStatements,
  stepBaseline,
  synthApp,
} from './support';

const synth = synthApp(cdkJsonStages());
afterAll(() => synth.cleanup());
const stack = synth.stacks[0] as SwitchbackStack;
const template = Template.fromStack(stack);

const ARN = 'arn:<AWS::Partition>';
const RA = '<AWS::Region>:<AWS::AccountId>';
const service = (name: string) => `${ARN}:ecs:${RA}:service/memory-staging/${name}`;
const watched = stackWatched();
function stackWatched() {
  return [
    ...['mem0', 'mcp'].flatMap((p) =>
      ['ENABLE_CACHING', 'AUTONOMOUS_MODE', 'WORKERS'].map(
        (k) => `${ARN}:ssm:${RA}:parameter/memory/staging/${p}/${k}`,
      ),
    ),
    // Switchback's own drill marker, watched like the app's parameters.
    `${ARN}:ssm:${RA}:parameter/switchback/staging/drill/marker`,
  ];
}
const grantsOf = (step: StepName) =>
  grantPairs(roleStatements(stack, stack.functions[step].role)).filter(
    (g) => !stepBaseline(stack, step).includes(g),
  );

describe('code-rollback and config-rollback: each step may touch exactly its targets', () => {
  const journalTable = flat(stack, stack.journal.table.tableArn);

  it('rollback-plan reads the journal, the watched parameters (never decrypted), the two services and the rollback alarms history', () => {
    const env = resourceOf(template, stack, stack.functions['rollback-plan'].function).Properties
      .Environment as {
      Variables: Record<string, string>;
    };
    const catalog = AlarmCatalog.parse(JSON.parse(env.Variables[ALARM_CATALOG_ENV] ?? 'null'));
    const ids = Object.keys(catalog.alarms);
    expect(ids).toContain('s004-error-rate');
    const alarms = ids.map((id) => `${ARN}:cloudwatch:${RA}:alarm:${alarmName(catalog, id)}`);
    expect(grantsOf('rollback-plan')).toEqual(
      [
        `dynamodb:Query on ${journalTable}`,
        ...watched.map((p) => `ssm:GetParameter on ${p}`),
        `ecs:DescribeServices on ${service('memory-api')}`,
        `ecs:DescribeServices on ${service('memory-sidecar')}`,
        ...alarms.flatMap((a) => [
          `cloudwatch:DescribeAlarmHistory on ${a}`,
          `cloudwatch:DescribeAlarms on ${a}`,
        ]),
      ].sort(),
    );
    expect(grantsOf('rollback-plan').some((g) => g.startsWith('kms:'))).toBe(false);
  });

  it('rollback-apply writes only the watched parameters, updates and stops only the api and sidecar, and journals', () => {
    const deployments = ['memory-api', 'memory-sidecar'].map(
      (n) => `${ARN}:ecs:${RA}:service-deployment/memory-staging/${n}/*`,
    );
    const revisions = ['memory-api', 'memory-sidecar'].map(
      (n) => `${ARN}:ecs:${RA}:service-revision/memory-staging/${n}/*`,
    );
    const listed = [service('memory-api'), service('memory-sidecar'), ...deployments, ...revisions];
    expect(grantsOf('rollback-apply')).toEqual(
      [
        `dynamodb:PutItem on ${journalTable}`,
        ...watched.flatMap((p) => [`ssm:GetParameter on ${p}`, `ssm:PutParameter on ${p}`]),
        ...['memory-api', 'memory-sidecar'].flatMap((n) => [
          `ecs:UpdateService on ${service(n)}`,
          `ecs:DescribeServices on ${service(n)}`,
        ]),
        ...[
          'ecs:ListServiceDeployments',
          'ecs:DescribeServiceDeployments',
          'ecs:DescribeServiceRevisions',
        ].flatMap((a) => listed.map((r) => `${a} on ${r}`)),
        ...deployments.map((d) => `ecs:StopServiceDeployment on ${d}`),
      ].sort(),
    );
  });

  it('both are deployed, published for the CLI and guarded by the lock janitor', () => {
    for (const name of ['code-rollback', 'config-rollback'] as const) {
      const params = template.findResources('AWS::SSM::Parameter', {
        Properties: { Name: `/switchback/staging/procedures/${name}` },
      });
      expect(Object.keys(params), name).toHaveLength(1);
      expect(stack.procedures[name].stateMachine).toBeDefined();
    }
  });
});
