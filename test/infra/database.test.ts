import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStage, StageConfigError } from '../../lib/config/stage';
import { procedureParameterName, type SwitchbackStack } from '../../lib/switchback-stack';
import { grantPairs, resourceOf, roleStatements, stage, synthApp } from './support';

const ARN = 'arn:<AWS::Partition>';
const RA = '<AWS::Region>:<AWS::AccountId>';

const network = {
  vpcId: 'vpc-0abc',
  availabilityZones: ['eu-west-1a'],
  subnetIds: ['subnet-0aaa'],
  securityGroupIds: ['sg-0ccc'],
};
const data = {
  postgres: {
    host: '10.0.1.5',
    user: 'switchback',
    passwordSecret: '/memory/db/password',
    databases: ['memory'],
  },
};
const database = {
  connections: {
    legacy: { urlParameter: '/memory/db/legacy-url' },
    supabase: { urlParameter: '/memory/db/supabase-pooler-url' },
  },
  source: {
    connection: 'legacy',
    qdrant: {
      url: 'https://qdrant.internal:6333',
      collection: 'dac_memory',
      apiKeyParameter: '/memory/qdrant/api-key',
    },
  },
  target: { connection: 'supabase' },
  backups: ['memory'],
};
const dbStage = stage({ name: 'db', network, data, database });

const synth = synthApp([dbStage, stage({ name: 'nodb', network, data })]);
afterAll(() => synth.cleanup());
const withDb = synth.stacks[0] as SwitchbackStack;
const withoutDb = synth.stacks[1] as SwitchbackStack;
const template = Template.fromStack(withDb);

const pairs = (stack: SwitchbackStack, step: keyof SwitchbackStack['functions']) =>
  grantPairs(roleStatements(stack, stack.functions[step].role));

describe('stage configuration: database', () => {
  it('fills seed 002 defaults: transaction pooler 6543, 95 % success, recall 0.95 / 0.85, 30 min window and target', () => {
    const parsed = parseStage(dbStage);
    expect(parsed.database).toMatchObject({
      poolerPort: 6543,
      target: {
        table: 'memory_fragments',
        orgPayloadKey: 'org_id',
        appRole: 'app_user',
        orgSetting: 'app.current_org',
      },
      gates: {
        minSuccessRate: 0.95,
        targetMigrationSeconds: 1800,
        recallTarget: 0.95,
        recallFloor: 0.85,
        searchLatencyMs: 100,
      },
      monitoringWindowSeconds: 1800,
      migration: { batchSize: 500, timeBudgetSeconds: 600 },
    });
    // No vector named: the collection's one unnamed vector is migrated.
    expect(parsed.database?.source.qdrant.vector).toBeUndefined();
  });

  it('takes the named vector to migrate from a collection with named vectors', () => {
    const named = {
      ...database,
      source: { ...database.source, qdrant: { ...database.source.qdrant, vector: 'text' } },
    };
    expect(
      parseStage(stage({ name: 'db', network, data, database: named })).database?.source.qdrant,
    ).toMatchObject({
      collection: 'dac_memory',
      vector: 'text',
    });
  });

  it.each([
    [
      'an unknown target connection',
      { target: { connection: 'nope' } },
      'database.target.connection: "nope" is not in database.connections',
    ],
    [
      'the same connection twice',
      { target: { connection: 'legacy' } },
      'database.target.connection: must differ from source.connection',
    ],
    ['no backup of the target', { backups: [] }, 'database.backups: name the target database'],
    [
      'a backup the data task does not know',
      { backups: ['other'] },
      'database.backups.0: "other" is not in data.postgres.databases',
    ],
    [
      'a floor above the target',
      { gates: { recallFloor: 0.99 } },
      'database.gates.recallFloor: must not exceed gates.recallTarget',
    ],
    [
      'a budget past the Lambda limit',
      { migration: { timeBudgetSeconds: 800 } },
      'database.migration.timeBudgetSeconds',
    ],
    [
      'a connection URL given as a value',
      {
        connections: { legacy: { urlParameter: 'postgresql://u:p@h/db' }, supabase: { urlParameter: '/x' } },
      },
      'database.connections.legacy.urlParameter',
    ],
    [
      'an empty Qdrant vector name',
      { source: { ...database.source, qdrant: { ...database.source.qdrant, vector: '' } } },
      'database.source.qdrant.vector',
    ],
    [
      'a Qdrant vector name with a space',
      { source: { ...database.source, qdrant: { ...database.source.qdrant, vector: 'text embedding' } } },
      'database.source.qdrant.vector: a Qdrant vector name',
    ],
  ])('refuses %s, naming the field', (_what, override, message) => {
    expect(() =>
      parseStage(stage({ name: 'db', network, data, database: { ...database, ...override } })),
    ).toThrow(StageConfigError);
    expect(() =>
      parseStage(stage({ name: 'db', network, data, database: { ...database, ...override } })),
    ).toThrow(message);
  });
});

describe('database cutover infrastructure', () => {
  it('deploys database-cutover and database-rollback and publishes their ARNs for the CLI, only with a database section', () => {
    expect(withDb.database).toBeDefined();
    expect(withoutDb.database).toBeUndefined();
    for (const name of ['database-cutover', 'database-rollback'] as const) {
      template.hasResourceProperties('AWS::SSM::Parameter', {
        Name: procedureParameterName({ name: 'db' }, name),
      });
    }
    expect(
      Template.fromStack(withoutDb).findResources('AWS::SSM::Parameter', {
        Properties: { Name: '/switchback/nodb/procedures/database-cutover' },
      }),
    ).toEqual({});
  });

  it("the migration reads only the target URL and the Qdrant key, and writes only its cutovers' objects", () => {
    const g = pairs(withDb, 'migrate-vectors');
    expect(g.filter((p) => p.startsWith('ssm:'))).toEqual([
      `ssm:GetParameter on ${ARN}:ssm:${RA}:parameter/memory/db/supabase-pooler-url`,
      `ssm:GetParameter on ${ARN}:ssm:${RA}:parameter/memory/qdrant/api-key`,
    ]);
    expect(g.filter((p) => p.startsWith('s3:'))).toEqual([
      expect.stringMatching(/^s3:GetObject on .*\/database-cutovers\/db\/\*$/),
      expect.stringMatching(/^s3:ListBucket on /),
      expect.stringMatching(/^s3:PutObject on .*\/database-cutovers\/db\/\*$/),
    ]);
    expect(
      g.some((p) => p.startsWith('ecs:') || p.startsWith('states:') || p.includes('ssm:PutParameter')),
    ).toBe(false);
    const cfn = resourceOf(template, withDb, withDb.functions['migrate-vectors'].function).Properties;
    // A budget of 600 s inside a 900 s function inside the state's 930 s TimeoutSeconds.
    expect(cfn.Timeout).toBe(900);
    expect(cfn.VpcConfig).toEqual({ SubnetIds: ['subnet-0aaa'], SecurityGroupIds: ['sg-0ccc'] });
  });

  it('the checks read both URLs, the key, database/active and change records; nothing else is written but evidence', () => {
    const g = pairs(withDb, 'database-check');
    expect(g.filter((p) => p.startsWith('ssm:'))).toEqual([
      `ssm:GetParameter on ${ARN}:ssm:${RA}:parameter/memory/db/legacy-url`,
      `ssm:GetParameter on ${ARN}:ssm:${RA}:parameter/memory/db/supabase-pooler-url`,
      `ssm:GetParameter on ${ARN}:ssm:${RA}:parameter/memory/qdrant/api-key`,
      `ssm:GetParameter on ${ARN}:ssm:${RA}:parameter/switchback/db/database/active`,
    ]);
    expect(g.filter((p) => p.startsWith('s3:PutObject'))).toEqual([
      expect.stringMatching(/\/database-cutovers\/db\/\*$/),
    ]);
    expect(g.filter((p) => p.startsWith('s3:GetObject'))).toEqual([
      expect.stringMatching(/\/change-records\/db\/\*$/),
      expect.stringMatching(/\/database-cutovers\/db\/\*$/),
    ]);
    expect(pairs(withDb, 'database-report').filter((p) => p.startsWith('ssm:'))).toEqual([]);
    const own = (p: string) => !p.startsWith('logs:') && !p.startsWith('xray:');
    expect(pairs(withDb, 'database-input').filter(own)).toEqual([]);
    // Only set-flags writes database/active.
    expect(pairs(withDb, 'set-flags')).toContain(
      `ssm:PutParameter on ${ARN}:ssm:${RA}:parameter/switchback/db/database/active`,
    );
  });

  it('the cutover may start the backup and database-rollback; the router may start database-rollback and stop a database cutover', () => {
    const cutover = grantPairs(roleStatements(withDb, withDb.database?.cutover.stateMachine.role as never));
    expect(cutover).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^states:StartExecution on <DataBackupStateMachine.*>$/),
        expect.stringMatching(/^states:StartExecution on <DatabaseCutoverRollbackStateMachine.*>$/),
        expect.stringMatching(/^lambda:InvokeFunction on <Stepmigratevectors.*\.Arn>$/),
      ]),
    );
    const router = grantPairs(
      roleStatements(withDb, withDb.procedures['rollback-router'].stateMachine.role as never),
    );
    expect(router).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^states:StartExecution on <DatabaseCutoverRollbackStateMachine.*>$/),
        expect.stringMatching(
          /^states:StopExecution on .*:execution:<DatabaseCutoverStateMachine\w+\.Name>:\*$/,
        ),
      ]),
    );
    const plain = grantPairs(
      roleStatements(withoutDb, withoutDb.procedures['rollback-router'].stateMachine.role as never),
    );
    expect(plain.filter((p) => p.includes('database'))).toEqual([]);
  });

  it('the lock janitor guards both database procedures', () => {
    const rules = template.findResources('AWS::Events::Rule');
    const janitor = Object.values(rules).find((r) =>
      JSON.stringify(r).includes('Step Functions Execution Status Change'),
    );
    const arns = JSON.stringify(janitor);
    expect(arns).toContain('"DatabaseCutoverStateMachine');
    expect(arns).toContain('DatabaseCutoverRollbackStateMachine');
  });

  it('leaves cdk-nag nothing unacknowledged', () => {
    const report = new AwsSolutionsChecks().validateScope(synth.app);
    expect(
      report.violations.map(
        (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      ),
    ).toEqual([]);
  });
});
