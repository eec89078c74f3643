import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStage, toRuntimeConfig } from '../../lib/config/stage';
import { HouseFunction } from '../../lib/house-function';
import { Procedure, type ProcedureBinding } from '../../lib/procedure';
import { flat, grantPairs, roleStatements, scratchApp, stage } from './support';

const scratch = scratchApp();
const dir = mkdtempSync(join(tmpdir(), 'switchback-asl-'));
afterAll(() => {
  scratch.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function fixture() {
  const stack = new Stack(scratch.app, `P${n++}`);
  const table = new Table(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
  const topic = new Topic(stack, 'Topic');
  const fn = new HouseFunction(stack, 'Fn', {
    step: 'check-health',
    runtimeConfig: toRuntimeConfig(parseStage(stage()), 'bucket'),
    logRetention: RetentionDays.ONE_WEEK,
    timeout: Duration.seconds(20),
  });
  const procedure = (name: string, bindings: Record<string, ProcedureBinding>, definitionPath?: string) =>
    new Procedure(stack, `Proc${n++}`, {
      name,
      bindings,
      logRetention: RetentionDays.ONE_WEEK,
      alarmTopic: topic,
      ...(definitionPath ? { definitionPath } : {}),
    });
  return { stack, table, topic, fn, procedure };
}

function asl(name: string, definition: unknown): string {
  const path = join(dir, `${name}.asl.json`);
  writeFileSync(path, JSON.stringify(definition));
  return path;
}

const task = (
  Resource: string,
  Parameters?: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) => ({
  Type: 'Task',
  Resource,
  ...(Parameters ? { Parameters } : {}),
  ...extra,
  End: true,
});

describe('Procedure.placeholders', () => {
  it('lists each placeholder of the shipped definitions once, sorted', () => {
    expect(Procedure.placeholders(Procedure.definition('lock-janitor'))).toEqual([
      'ComposeNoticeFunctionArn',
      'Environment',
      'LockTableName',
      'NotificationTopicArn',
      'ObserveHoldFunctionArn',
    ]);
    expect(Procedure.placeholders(Procedure.definition('provider-cutover'))).toContain(
      'ProviderRollbackStateMachineArn',
    );
    expect(Procedure.placeholders(Procedure.definition('provider-rollback'))).not.toContain(
      'ProviderRollbackStateMachineArn',
    );
  });
});

describe('Procedure bindings', () => {
  it('throws at synth on a placeholder without a binding, naming it', () => {
    const { table, procedure } = fixture();
    expect(() =>
      procedure('lock-janitor', { LockTableName: { table }, Environment: { value: 'test' } }),
    ).toThrow(
      `Procedure lock-janitor: no binding for placeholder(s) \${ComposeNoticeFunctionArn}, \${NotificationTopicArn}, \${ObserveHoldFunctionArn}`,
    );
  });

  it('throws on a binding the definition never uses', () => {
    const { table, topic, procedure } = fixture();
    expect(() =>
      procedure('lock-janitor', {
        LockTableName: { table },
        Environment: { value: 'test' },
        NotificationTopicArn: { topic },
        ObserveHoldFunctionArn: { value: 'x' },
        ComposeNoticeFunctionArn: { value: 'x' },
        SmokeTestFunctionArn: { value: 'x' },
      }),
    ).toThrow('binding(s) SmokeTestFunctionArn not used by the definition');
  });

  it('throws when a placeholder is bound to the wrong kind of resource', () => {
    const { topic, procedure } = fixture();
    expect(() =>
      procedure('lock-janitor', {
        LockTableName: { value: 'locks' },
        Environment: { value: 'test' },
        NotificationTopicArn: { topic },
        ObserveHoldFunctionArn: { value: 'x' },
        ComposeNoticeFunctionArn: { value: 'x' },
      }),
    ).toThrow(
      `state "ReleaseOrphanedIncident" needs \${LockTableName} bound to a table for arn:aws:states:::dynamodb:updateItem, but it is bound to a value`,
    );
  });
});

describe('Procedure grant derivation', () => {
  it('refuses an integration it cannot grant', () => {
    const { procedure } = fixture();
    const path = asl('unknown', {
      StartAt: 'Put',
      States: { Put: task('arn:aws:states:::aws-sdk:s3:putObject', { Bucket: 'b', Key: 'k', Body: 'x' }) },
    });
    expect(() => procedure('unknown', {}, path)).toThrow(
      'state "Put" uses arn:aws:states:::aws-sdk:s3:putObject, which Procedure cannot grant',
    );
  });

  it('refuses a table it cannot name at synth', () => {
    const { procedure } = fixture();
    const path = asl('dynamic', {
      StartAt: 'Get',
      States: { Get: task('arn:aws:states:::dynamodb:getItem', { 'TableName.$': '$.table', Key: {} }) },
    });
    expect(() => procedure('dynamic', {}, path)).toThrow(
      `must set Parameters.TableName to a single \${Placeholder}`,
    );
  });

  it('refuses a Task whose TimeoutSeconds the function could outlive', () => {
    const { fn, procedure } = fixture();
    const path = asl('tight', {
      StartAt: 'Check',
      States: { Check: task(`\${Fn}`, undefined, { TimeoutSeconds: 20 }) },
    });
    expect(() => procedure('tight', { Fn: { function: fn } }, path)).toThrow(
      'state "Check" has TimeoutSeconds 20 but check-health may run 20 s',
    );
  });

  it('finds Tasks inside Parallel branches and Map item processors, and grants only what they use', () => {
    const { stack, table, fn, procedure } = fixture();
    const path = asl('nested', {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          Branches: [
            {
              StartAt: 'Read',
              States: {
                Read: task('arn:aws:states:::dynamodb:getItem', { TableName: `\${Locks}`, Key: {} }),
              },
            },
            {
              StartAt: 'Each',
              States: {
                Each: {
                  Type: 'Map',
                  ItemsPath: '$.items',
                  ItemProcessor: {
                    StartAt: 'Check',
                    States: { Check: task(`\${Fn}`, undefined, { TimeoutSeconds: 60 }) },
                  },
                  End: true,
                },
              },
            },
          ],
          End: true,
        },
      },
    });
    const p = procedure('nested', { Locks: { table }, Fn: { function: fn } }, path);
    const grants = grantPairs(roleStatements(stack, p.stateMachine.role)).filter(
      (g) => !/^(logs|xray):/.test(g),
    );
    expect(grants).toEqual(
      [
        `dynamodb:GetItem on ${flat(stack, table.tableArn)}`,
        `lambda:InvokeFunction on ${flat(stack, fn.functionArn)}`,
      ].sort(),
    );
  });
});
