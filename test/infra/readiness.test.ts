import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CfnRule } from 'aws-cdk-lib/aws-events';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../lib/app';
import {
  deployedProcedures,
  isPrivateHost,
  readinessProblems,
  stageBounds,
} from '../../lib/config/readiness';
import { parseStage, parseStages } from '../../lib/config/stage';
import { Notifications } from '../../lib/notifications';
import { type Definition, lambda, pass, startChild, wait } from '../../procedures/asl';
import { BudgetError, budgetProblems, childrenOf, DESIGN_BOUNDS, worstCase } from '../../procedures/budget';
import { PROCEDURE_NAMES, PROCEDURES } from '../../procedures/index';
import { cdkJsonStages, fullStage, scratchApp, stage, synthApp, TEST_NETWORK } from './support';

const ready = (raw: Record<string, unknown>) => readinessProblems(parseStage(raw));
const data = { postgres: { host: 'db.test.internal', user: 'u', passwordSecret: '/p', databases: ['m'] } };

describe('readiness: the shipped cdk.json', () => {
  it('every stage is ready: no problem reported', () => {
    const stages = parseStages({ stages: cdkJsonStages() });
    expect(stages.map((s) => s.name)).toEqual(['staging', 'prod']);
    for (const s of stages) expect(readinessProblems(s), s.name).toEqual([]);
  });

  it('every stage backs up before a cutover and runs its endpoint callers in a network', () => {
    for (const s of parseStages({ stages: cdkJsonStages() })) {
      expect(s.data, s.name).toBeDefined();
      expect(s.network?.subnetIds.length, s.name).toBeGreaterThan(0);
    }
  });
});

describe('readiness: each bad configuration is refused with its field and what was found', () => {
  const noNetwork = { network: undefined };
  const cases: [name: string, raw: Record<string, unknown>, field: string, message: RegExp][] = [
    [
      'private DNS endpoints without a network',
      stage(noNetwork),
      'network',
      /endpoints\.apiBaseUrl \(api\.test\.internal:13370\) and endpoints\.sidecarBaseUrl \(sidecar\.test\.internal:7070\) are private addresses: the steps that call them \(check-health, smoke-test, health-probe, feature-check, migrate-vectors, database-check, observe-hold\) would run outside any VPC/,
    ],
    [
      'one private IP endpoint without a network',
      stage({
        ...noNetwork,
        endpoints: { apiBaseUrl: 'http://10.0.3.4:13370', sidecarBaseUrl: 'https://sidecar.example.com' },
      }),
      'network',
      /endpoints\.apiBaseUrl \(10\.0\.3\.4:13370\) is a private address/,
    ],
    [
      'no data and no reason for taking no backups',
      stage({ backups: {} }),
      'data',
      /configures no data section, so a cutover takes no backup \(seed 000: always back up before a cutover\)/,
    ],
    [
      'data and backups.none together',
      stage({ data, backups: { none: 'nothing to back up, really' } }),
      'backups.none',
      /says the stage takes no backups, but it configures data/,
    ],
    [
      'stability waits beyond what the timeouts are derived for',
      stage({ timing: { stabilityPollSeconds: 30, stabilityMaxAttempts: 60 } }),
      'timing.stabilityMaxAttempts',
      /= 1800 s of stability wait, beyond the 600 s the procedures' timeouts are derived for/,
    ],
    [
      'more databases per change than the cutovers are budgeted for',
      stage({ data: { postgres: { ...data.postgres, databases: ['a', 'b', 'c', 'd', 'e'] } } }),
      'data',
      /5 databases backed up per change, beyond the 4/,
    ],
  ];

  it.each(cases)('%s', (_name, raw, field, message) => {
    const problems = ready(raw);
    const found = problems.find((p) => p.field === field);
    expect(found, JSON.stringify(problems)).toBeDefined();
    expect(found?.message).toMatch(message);
  });

  it('timings beyond the design also fail the nesting itself, naming the procedure and its path', () => {
    const problems = ready(stage({ timing: { stabilityPollSeconds: 30, stabilityMaxAttempts: 60 } }));
    const timeouts = problems.filter((p) => p.field === 'timeouts').map((p) => p.message);
    expect(
      timeouts.some((m) =>
        /^procedure provider-rollback: its worst path takes \d+ s but TimeoutSeconds is 7800 \(ValidateInput > /.test(
          m,
        ),
      ),
    ).toBe(true);
  });

  it('a ready stage reports nothing; public endpoints need no network', () => {
    expect(ready(stage())).toEqual([]);
    expect(
      ready(
        stage({
          ...noNetwork,
          endpoints: { apiBaseUrl: 'https://api.example.com', sidecarBaseUrl: 'https://sidecar.example.com' },
        }),
      ),
    ).toEqual([]);
  });

  it('tells private hosts from public ones', () => {
    for (const url of [
      'http://a.internal',
      'http://10.1.2.3',
      'http://172.20.0.1',
      'http://192.168.1.1',
      'http://api',
      'http://x.svc.cluster.local',
    ]) {
      expect(isPrivateHost(url), url).toBe(true);
    }
    for (const url of ['https://api.example.com', 'http://8.8.8.8', 'http://172.32.0.1']) {
      expect(isPrivateHost(url), url).toBe(false);
    }
  });

  it('synth refuses a stage that is not ready, listing every problem with stage and field', () => {
    const scratch = scratchApp();
    try {
      expect(() =>
        buildApp(
          { switchback: { stages: [stage({ ...noNetwork, backups: {} })] } },
          { skipBundling: true, cfnValidation: false, nag: false },
        ),
      ).toThrow(/Switchback stages not ready to deploy:\n {2}test: network: .*\n {2}test: data: /);
    } finally {
      scratch.cleanup();
    }
  });
});

describe('timeouts: derived from the definitions and nested over every procedure', () => {
  const staging = parseStages({ stages: cdkJsonStages() })[0];
  if (!staging) throw new Error('cdk.json has no staging stage');

  it('under the design bounds and under each shipped stage, every execution covers its worst path', () => {
    expect(budgetProblems(PROCEDURES, DESIGN_BOUNDS)).toEqual([]);
    for (const s of parseStages({ stages: cdkJsonStages() })) {
      expect(budgetProblems(PROCEDURES, stageBounds(s), deployedProcedures(s)), s.name).toEqual([]);
    }
  });

  it('each TimeoutSeconds is its worst path rounded up to 5 minutes, children first', () => {
    const child = childrenOf(PROCEDURES);
    for (const name of PROCEDURE_NAMES) {
      const d = PROCEDURES[name] as Definition;
      const worst = worstCase(name, d, DESIGN_BOUNDS, child).worstSeconds;
      expect(d.TimeoutSeconds, name).toBe(Math.ceil(worst / 300) * 300);
    }
    // A cutover waits for its backups and, failing, its rollback: both inside its own budget.
    const cutover = PROCEDURES['provider-cutover'].TimeoutSeconds;
    expect(cutover).toBeGreaterThan(
      4 * PROCEDURES.backup.TimeoutSeconds + PROCEDURES['provider-rollback'].TimeoutSeconds,
    );
    // Six data tasks of a restore each have their own timeout; the restore covers them all.
    expect(PROCEDURES['restore-postgres'].TimeoutSeconds).toBeGreaterThan(6 * 21600);
  });

  it('no nested execution has a timeout of its own: the child ends by its own', () => {
    for (const name of PROCEDURE_NAMES) {
      const text = JSON.stringify(PROCEDURES[name]);
      const nested = [
        ...text.matchAll(
          /"Resource":"arn:aws:states:::states:startExecution\.sync:2"[^}]*?"TimeoutSeconds"/g,
        ),
      ];
      expect(nested, name).toEqual([]);
    }
  });

  const tiny = (states: Definition['States'], timeout: number): Definition => ({
    Comment: 'test',
    StartAt: 'A',
    TimeoutSeconds: timeout,
    States: states,
  });

  it('refuses a parent that would stop its child mid-change, and an execution shorter than its path', () => {
    const child = tiny({ A: lambda('check-stable', { comment: 'c', timeout: 50, end: true }) }, 300);
    const parent = tiny(
      {
        A: {
          ...startChild('child', { comment: 'p', input: {}, end: true }),
          TimeoutSeconds: 20,
        },
      },
      30,
    );
    expect(budgetProblems({ child, parent }, DESIGN_BOUNDS)).toEqual([
      'procedure parent: state "A" waits 20 s for child, which may take 57 s: the parent would stop it mid-change',
    ]);
    const slow = tiny({ A: lambda('check-stable', { comment: 'c', timeout: 50, end: true }) }, 40);
    expect(budgetProblems({ slow }, DESIGN_BOUNDS)).toEqual([
      'procedure slow: its worst path takes 57 s but TimeoutSeconds is 40 (A)',
    ]);
  });

  it('refuses a loop nothing bounds, and counts one whose counter a Choice bounds', () => {
    const unbounded = tiny(
      {
        A: wait({ comment: 'w', secondsPath: '$.unknown', next: 'B' }),
        B: pass({ comment: 'p', next: 'A' }),
      },
      300,
    );
    expect(() => worstCase('unbounded', unbounded, DESIGN_BOUNDS, () => undefined)).toThrow(BudgetError);
    expect(() => worstCase('unbounded', unbounded, DESIGN_BOUNDS, () => undefined)).toThrow(
      /^Procedure unbounded: the loop through "[AB]", "[AB]" has no bound on its iterations: its time cannot be budgeted$/,
    );
    const unknownWait = tiny({ A: wait({ comment: 'w', secondsPath: '$.unknown', end: true }) }, 300);
    expect(() => worstCase('unknownWait', unknownWait, DESIGN_BOUNDS, () => undefined)).toThrow(
      'state "A" waits for $.unknown, which has no bound: its time cannot be budgeted',
    );
    const counted = tiny(
      {
        A: wait({ comment: 'w', seconds: 10, next: 'B' }),
        B: pass({
          comment: 'count',
          parameters: { 'n.$': 'States.MathAdd($.n, 1)' },
          resultPath: '$.n',
          next: 'C',
        }),
        C: {
          Type: 'Choice',
          Comment: 'again?',
          Choices: [{ Variable: '$.n', NumericLessThan: 3, Next: 'A' }],
          Default: 'D',
        },
        D: { Type: 'Succeed', Comment: 'done' },
      },
      300,
    );
    expect(worstCase('counted', counted, DESIGN_BOUNDS, () => undefined).worstSeconds).toBe(30);
  });
});

describe('notification topic: every service that publishes to it is allowed to', () => {
  const synth = synthApp(cdkJsonStages());
  afterAll(() => synth.cleanup());
  const stack = synth.stacks[0] as Stack;
  const template = Template.fromStack(stack);

  it('allows CloudWatch alarms of this account and region to publish, and nothing else by service', () => {
    const policies = Object.values(template.findResources('AWS::SNS::TopicPolicy'));
    expect(policies).toHaveLength(1);
    const statements = policies[0]?.Properties.PolicyDocument.Statement as Record<string, unknown>[];
    const byService = statements.filter((s) => (s.Principal as { Service?: string } | undefined)?.Service);
    expect(byService).toHaveLength(1);
    expect(byService[0]).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: 'sns:Publish',
      Condition: {
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        ArnLike: {
          'aws:SourceArn': {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':cloudwatch:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                ':alarm:*',
              ],
            ],
          },
        },
      },
    });
  });

  it('every alarm that notifies through SNS names this topic, so the statement covers all of them', () => {
    const topics = Object.keys(template.findResources('AWS::SNS::Topic'));
    expect(topics).toHaveLength(1);
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    const actions = alarms.flatMap((a) => (a.Properties.AlarmActions as unknown[] | undefined) ?? []);
    expect(actions.length).toBeGreaterThan(40);
    for (const action of actions) expect(action).toEqual({ Ref: topics[0] });
  });

  it('a probe that stops publishing raises a notification: no availability data is breaching there', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (a) => a.Properties.MetricName === 'Availability' && a.Properties.Statistic === 'SampleCount',
    );
    expect(alarms.map((a) => a.Properties.Dimensions)).toEqual([
      [
        { Name: 'Environment', Value: 'staging' },
        { Name: 'Target', Value: 'api' },
      ],
      [
        { Name: 'Environment', Value: 'staging' },
        { Name: 'Target', Value: 'sidecar' },
      ],
    ]);
    for (const a of alarms) {
      expect(a.Properties).toMatchObject({
        Namespace: 'Switchback',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
      });
      expect(a.Properties.AlarmActions).toHaveLength(1);
    }
  });

  it('synth refuses an EventBridge rule that targets the topic when the policy does not allow events', () => {
    const scratch = scratchApp();
    try {
      const s = new Stack(scratch.app, 'Publishers');
      const n = new Notifications(s, 'N', { environment: 'test' });
      new CfnRule(s, 'Rule', {
        eventPattern: { source: ['aws.ecs'] },
        targets: [{ id: 'topic', arn: n.topic.topicArn }],
      });
      expect(() => scratch.app.synth()).toThrow(
        /Publishers\/Rule publishes to the notification topic through events\.amazonaws\.com, which the topic policy does not allow: its notifications would be dropped/,
      );
    } finally {
      scratch.cleanup();
    }
  });
});

describe('the test stage fixture is ready (so every infra test synthesizes through the check)', () => {
  it('has its private endpoints in a network and says why it takes no backups', () => {
    const s = parseStage(stage());
    expect(s.network).toEqual(TEST_NETWORK);
    expect(s.backups.none).toMatch(/nothing/);
    expect(readinessProblems(s)).toEqual([]);
  });
});

/**
 * The template budget: CloudFormation takes at most 1 MB of template and 500 resources; a stage
 * with every feature on stays well inside both, so the next feature does not find the limit on
 * deploy.
 */
const TEMPLATE_BUDGET = { bytes: 800 * 1024, resources: 400 } as const;

describe('template budget: a stage with every feature on', () => {
  const synth = synthApp([fullStage()]);
  afterAll(() => synth.cleanup());
  const stack = synth.stacks[0] as Stack;
  const template = Template.fromStack(stack).toJSON() as { Resources: Record<string, unknown> };

  it('deploys data, the database cutover, its network and monitoring (so the budget measures them)', () => {
    const types = new Set(Object.values(template.Resources).map((r) => (r as { Type: string }).Type));
    for (const t of [
      'AWS::ECS::TaskDefinition',
      'AWS::Scheduler::Schedule',
      'AWS::CloudWatch::Alarm',
      'AWS::Lambda::Function',
    ]) {
      expect(types.has(t), t).toBe(true);
    }
    expect(Object.keys(template.Resources).some((id) => id.startsWith('DatabaseCutover'))).toBe(true);
  });

  it(`stays under ${TEMPLATE_BUDGET.bytes / 1024} KB and ${TEMPLATE_BUDGET.resources} resources`, () => {
    // As the CDK writes it to cdk.out (one-space indentation), which is what is uploaded.
    const bytes = Buffer.byteLength(JSON.stringify(template, undefined, 1));
    expect(bytes).toBeLessThan(TEMPLATE_BUDGET.bytes);
    expect(Object.keys(template.Resources).length).toBeLessThan(TEMPLATE_BUDGET.resources);
  });
});

describe('state machine log groups', () => {
  const synth = synthApp(cdkJsonStages());
  afterAll(() => synth.cleanup());

  it('are all under /aws/vendedlogs/states/, named by stack, procedure and the stack id', () => {
    for (const stack of synth.stacks) {
      const template = Template.fromStack(stack);
      const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
      const groups = template.findResources('AWS::Logs::LogGroup');
      expect(machines.length, stack.stackName).toBeGreaterThanOrEqual(9);
      for (const m of machines) {
        const arn = m.Properties.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn;
        const group = groups[arn['Fn::GetAtt'][0] as string];
        expect(group, arn['Fn::GetAtt'][0]).toBeDefined();
        const [head, id] = (
          group as { Properties: { LogGroupName: { 'Fn::Join': [string, [string, unknown]] } } }
        ).Properties.LogGroupName['Fn::Join'][1];
        expect(head).toMatch(new RegExp(`^/aws/vendedlogs/states/${stack.stackName}-[a-z-]+-$`));
        expect(id).toEqual({ 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] });
      }
    }
  });
});
