import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, describe, expect, it } from 'vitest';
import { STEP_NAMES } from '../../functions';
import { RUNTIME_CONFIG_ENV, RuntimeConfig } from '../../functions/shared/config';
import { parseStage, toRuntimeConfig } from '../../lib/config/stage';
import { HouseFunction } from '../../lib/house-function';
import { STEP_SETTINGS, type SwitchbackStack } from '../../lib/switchback-stack';
import { cdkJsonStages, resourceOf, scratchApp, stage, synthApp } from './support';

const synth = synthApp(cdkJsonStages());
afterAll(() => synth.cleanup());
const stacks = synth.stacks as SwitchbackStack[];

describe.each(stacks.map((s) => [s.stackName, s] as const))('step Lambdas of %s', (_name, stack) => {
  const template = Template.fromStack(stack);
  const stageConfig = synth.stages[stacks.indexOf(stack)];

  it.each(STEP_NAMES)(
    '%s: nodejs24.x on arm64, timeout and memory set, X-Ray active, own log group',
    (step) => {
      const fn = stack.functions[step];
      const props = resourceOf(template, stack, fn.function).Properties;
      expect(props.Runtime).toBe('nodejs24.x');
      expect(props.Architectures).toEqual(['arm64']);
      expect(props.Timeout).toBe(STEP_SETTINGS[step].timeout.toSeconds());
      expect(props.MemorySize).toBe(STEP_SETTINGS[step].memorySize);
      expect(props.TracingConfig).toEqual({ Mode: 'Active' });
      expect(props.Handler).toBe('index.handler');
      const logGroupId = stack.resolve(fn.logGroup.logGroupName);
      expect(props.LoggingConfig).toEqual({ LogGroup: logGroupId });
      expect(props.Role).toEqual(stack.resolve(fn.role.roleArn));
      const logGroup = resourceOf(template, stack, fn.logGroup);
      expect(logGroup.Properties.RetentionInDays).toBe(stageConfig?.logRetentionDays);
      expect(logGroup.DeletionPolicy).toBe('Retain');
    },
  );

  it('SWITCHBACK_CONFIG parses with the runtime schema and names this stage, its bucket and its prefix', () => {
    for (const step of STEP_NAMES) {
      const env = resourceOf(template, stack, stack.functions[step].function).Properties.Environment as {
        Variables: Record<string, unknown>;
      };
      const raw = env.Variables[RUNTIME_CONFIG_ENV] as { 'Fn::Join': [string, unknown[]] };
      const refs = new Map([
        [JSON.stringify(stack.resolve(stack.backups.bucket.bucketName)), 'b'],
        [JSON.stringify(stack.resolve(stack.journal.table.tableName)), 't'],
      ]);
      const json = raw['Fn::Join'][1]
        .map((part) => (typeof part === 'string' ? part : (refs.get(JSON.stringify(part)) ?? '?')))
        .join('');
      const config = RuntimeConfig.parse(JSON.parse(json));
      expect(config).toEqual(toRuntimeConfig(parseStage(stageConfig), 'b', 't'));
      expect(env.Variables.POWERTOOLS_SERVICE_NAME).toBe('switchback');
      expect(env.Variables.POWERTOOLS_LOG_LEVEL).toBe('INFO');
      expect(env.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    }
  });
});

describe('HouseFunction', () => {
  const config = toRuntimeConfig(parseStage(stage()), 'bucket');
  const scratch = scratchApp();
  afterAll(() => scratch.cleanup());
  let n = 0;
  const make = (props: Partial<ConstructorParameters<typeof HouseFunction>[2]> = {}) => {
    const stack = new Stack(scratch.app, `S${n++}`);
    const fn = new HouseFunction(stack, 'Fn', {
      step: 'check-health',
      runtimeConfig: config,
      logRetention: RetentionDays.ONE_MONTH,
      ...props,
    });
    return { stack, fn };
  };

  it('merges the caller environment with its own', () => {
    const { stack, fn } = make({
      environment: { EXTRA: 'yes' },
      logLevel: 'DEBUG',
      timeout: Duration.seconds(12),
    });
    const env = resourceOf(Template.fromStack(stack), stack, fn.function).Properties.Environment as {
      Variables: Record<string, unknown>;
    };
    expect(env.Variables).toMatchObject({
      EXTRA: 'yes',
      POWERTOOLS_LOG_LEVEL: 'DEBUG',
      POWERTOOLS_SERVICE_NAME: 'switchback',
    });
    expect(JSON.parse(env.Variables[RUNTIME_CONFIG_ENV] as string)).toEqual(config);
    expect(fn.timeout.toSeconds()).toBe(12);
  });

  it.each(['SWITCHBACK_CONFIG', 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_LOG_LEVEL', 'NODE_OPTIONS'])(
    'refuses a caller environment that sets %s',
    (name) => {
      expect(() => make({ environment: { [name]: 'x' } })).toThrow(`environment sets reserved ${name}`);
    },
  );

  it('refuses binders whose resource does not match the runtime config', () => {
    const { fn } = make();
    expect(() => fn.bindSecretParameter('/other/key')).toThrow('not a secret parameter');
    expect(() => fn.bindChangeRecords({ bucket: {} } as never, 'change-records/other')).toThrow(
      'change records under change-records/other but the step uses change-records/test',
    );
    expect(() => fn.bindFlags({ prefix: '/elsewhere' } as never, ['maintenance-mode'], 'read')).toThrow(
      'flags under /elsewhere but the step reads /switchback/test',
    );
  });
});
