import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { FLAG_NAMES } from '../../functions/shared/flags';
import { StageConfigError } from '../../lib/config/stage';
import { DATA_PROCEDURES } from '../../lib/data-protection';
import { FLAG_RESOURCE_TYPE } from '../../lib/flags';
import { PROCEDURES, type SwitchbackStack } from '../../lib/switchback-stack';
import { cdkJsonStages, stage, synthApp } from './support';

describe('stage configuration', () => {
  const build = (stages: unknown[]) => synthApp(stages).cleanup();

  it.each([
    ['a stage without services.cluster', stage({ services: { api: 'a', sidecar: 's' } }), 'services.cluster'],
    [
      'a non-URL apiBaseUrl',
      stage({ endpoints: { apiBaseUrl: 'memory-api:13370', sidecarBaseUrl: 'http://s:1' } }),
      'endpoints.apiBaseUrl',
    ],
    ['an unknown field', stage({ colour: 'blue' }), 'colour'],
    ['a log retention CloudWatch does not offer', stage({ logRetentionDays: 10 }), 'logRetentionDays'],
  ])('%s fails app construction naming the field', (_label, bad, field) => {
    expect(() => build([bad])).toThrow(StageConfigError);
    expect(() => build([bad])).toThrow(field);
  });

  it('refuses a missing context and duplicate stage names', () => {
    expect(() => build([])).toThrow('at least one stage');
    expect(() => build([stage(), stage()])).toThrow('name "test" appears twice');
  });

  it('refuses two stages that would own the same SSM parameters', () => {
    expect(() =>
      build([stage({ name: 'one' }), stage({ name: 'two', parameterPrefix: '/switchback/one' })]),
    ).toThrow('"two" and "one" would both own SSM parameter /switchback/one/memory/provider');
  });
});

describe('two stages in one app (cdk.json: staging and prod)', () => {
  const synth = synthApp(cdkJsonStages());
  afterAll(() => synth.cleanup());
  const stacks = synth.stacks as SwitchbackStack[];
  const stageNames = synth.stages.map((s) => s.name);
  const templates = stacks.map(
    (s) =>
      Template.fromStack(s).toJSON() as {
        Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
      },
  );

  it('synthesizes one Switchback-<name> stack per stage', () => {
    expect(stacks.map((s) => s.stackName)).toEqual(['Switchback-staging', 'Switchback-prod']);
  });

  it('gives each stage its own SSM parameter names, with no clash between stages', () => {
    const names = templates.map((t) =>
      Object.values(t.Resources).flatMap((r) => {
        if (r.Type === 'AWS::SSM::Parameter') return [r.Properties?.Name as string];
        // A flag: created once by its own resource (never written back by a deploy).
        if (r.Type === FLAG_RESOURCE_TYPE)
          return [
            (JSON.parse(r.Properties?.Create as string) as { parameters: { Name: string } }).parameters.Name,
          ];
        return [];
      }),
    );
    // Every flag, every procedure's ARN, the lock table, journal table and backup bucket names, and
    // the drill marker. staging also deploys the data procedures.
    expect(names[0]).toHaveLength(FLAG_NAMES.length + PROCEDURES.length + DATA_PROCEDURES.length + 4);
    expect(names[0]?.every((n) => n.startsWith('/switchback/staging/'))).toBe(true);
    expect(names[1]?.every((n) => n.startsWith('/switchback/prod/'))).toBe(true);
    expect(new Set(names.flat()).size).toBe(names.flat().length);
  });

  it('sets no other physical names that two stages in one account could fight over', () => {
    const named =
      /^(BucketName|TableName|TopicName|FunctionName|RoleName|LogGroupName|StateMachineName|Name|AlarmName|KeyAlias|AliasName)$/;
    for (const [i, t] of templates.entries()) {
      for (const [id, r] of Object.entries(t.Resources)) {
        if (r.Type === 'AWS::SSM::Parameter') continue;
        for (const prop of Object.keys(r.Properties ?? {})) {
          // Alarm names are set (the rollback rule and router match on them), and scoped by stage.
          if (r.Type === 'AWS::CloudWatch::Alarm' && prop === 'AlarmName') {
            expect(String(r.Properties?.AlarmName), id).toMatch(new RegExp(`^switchback-${stageNames[i]}-`));
            continue;
          }
          // State machine logs live under /aws/vendedlogs/states/, named by stack and stack id (unique).
          if (r.Type === 'AWS::Logs::LogGroup' && prop === 'LogGroupName') {
            const name = (r.Properties as Record<string, unknown>).LogGroupName as {
              'Fn::Join': [string, [string, unknown]];
            };
            const [head, suffix] = name['Fn::Join'][1];
            expect(head, id).toMatch(new RegExp(`^/aws/vendedlogs/states/Switchback-${stageNames[i]}-`));
            expect(suffix, id).toEqual({
              'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }],
            });
            continue;
          }
          // A Lambda permission names its function by reference, not by a chosen name.
          if (r.Type === 'AWS::Lambda::Permission' && prop === 'FunctionName') {
            expect(typeof r.Properties?.FunctionName, id).toBe('object');
            continue;
          }
          expect(named.test(prop), `${id}.${prop}`).toBe(false);
        }
      }
    }
  });

  it('applies each stage its own settings (log retention 90 vs 365)', () => {
    const retention = templates.map((t) => [
      ...new Set(
        Object.values(t.Resources)
          .filter((r) => r.Type === 'AWS::Logs::LogGroup')
          .map((r) => r.Properties?.RetentionInDays),
      ),
    ]);
    expect(retention).toEqual([[90], [365]]);
  });
});

describe('stage environment', () => {
  it('pins account and region when the stage gives them, and stays environment-agnostic otherwise', () => {
    const synth = synthApp([
      stage({ name: 'pinned', account: '123456789012', region: 'eu-west-1' }),
      stage({ name: 'free' }),
    ]);
    try {
      expect(synth.stacks.map((s) => [s.account, s.region])).toEqual([
        ['123456789012', 'eu-west-1'],
        [expect.stringContaining('Token'), expect.stringContaining('Token')],
      ]);
    } finally {
      synth.cleanup();
    }
  });
});
