import {
  CloudWatchClient,
  DescribeAlarmHistoryCommand,
  DescribeAlarmsCommand,
} from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { checkStable } from '../../functions/check-stable/check-stable';
import { setFlags } from '../../functions/set-flags/set-flags';
import { ALARM_CATALOG_ENV } from '../../functions/shared/alarm-catalog';
import { RUNTIME_CONFIG_ENV } from '../../functions/shared/config';
import { ConfigurationError } from '../../functions/shared/errors';
import { awsDeps, makeHandler } from '../../functions/shared/handler';
import { createLogger } from '../../functions/shared/observability';
import { validateInput } from '../../functions/validate-input/validate-input';
import { localAlarmCatalog } from '../../local/alarm-catalog';
import { testConfig } from '../support/fakes';

const ssm = mockClient(SSMClient);
const ecs = mockClient(ECSClient);
const s3 = mockClient(S3Client);
const cloudwatch = mockClient(CloudWatchClient);

let stdout: MockInstance;
let stderr: MockInstance;
/** Everything the Powertools logger printed during the test. */
const printed = () => [...stdout.mock.calls, ...stderr.mock.calls].map((c) => String(c[0])).join('');

beforeEach(() => {
  ssm.reset();
  ecs.reset();
  s3.reset();
  cloudwatch.reset();
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.unstubAllEnvs();
  stdout.mockRestore();
  stderr.mockRestore();
});

const EVENT = {
  procedure: 'provider-cutover',
  executionId: 'arn:aws:states:eu-west-1:123456789012:execution:provider-cutover:co-1',
  executionName: 'co-1',
  input: { reason: 'move to mem0 for ticket OPS-4711' },
};

function useConfig(value: unknown) {
  vi.stubEnv(RUNTIME_CONFIG_ENV, typeof value === 'string' ? value : JSON.stringify(value));
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

describe('makeHandler: configuration', () => {
  it(`fails with ConfigurationError when ${RUNTIME_CONFIG_ENV} is missing`, async () => {
    vi.stubEnv(RUNTIME_CONFIG_ENV, undefined);
    const err = await rejection(makeHandler(validateInput)(EVENT));
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(err.name).toBe('ConfigurationError');
    expect(err.message).toContain(`${RUNTIME_CONFIG_ENV} is not set`);
  });

  it('fails with ConfigurationError when the configuration is not JSON', async () => {
    useConfig('{environment: test}');
    const err = await rejection(makeHandler(validateInput)(EVENT));
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(err.message).toContain('not valid JSON');
  });

  it.each([
    ['flagPrefix', { ...testConfig(), flagPrefix: 'switchback/test' }],
    [
      'endpoints.sidecar',
      { ...testConfig(), endpoints: { api: 'http://api:8080', sidecar: 'sidecar:7070' } },
    ],
    ['timing.httpTimeoutMs', { ...testConfig(), timing: { ...testConfig().timing, httpTimeoutMs: 5 } }],
    ['services.cluster', { ...testConfig(), services: { api: 'a', sidecar: 's' } }],
  ])('fails with ConfigurationError naming %s', async (field, config) => {
    useConfig(config);
    const err = await rejection(makeHandler(validateInput)(EVENT));
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(err.message).toContain(`${field}:`);
  });

  it('reads the configuration again after a failure (a fixed deployment recovers)', async () => {
    const handler = makeHandler(validateInput);
    vi.stubEnv(RUNTIME_CONFIG_ENV, undefined);
    await expect(handler(EVENT)).rejects.toThrow(ConfigurationError);
    useConfig(testConfig());
    await expect(handler(EVENT)).resolves.toMatchObject({ changeId: 'co-1' });
  });
});

describe('makeHandler: running a step', () => {
  it('runs validate-input without touching AWS, and does not log the event', async () => {
    useConfig(testConfig({ environment: 'prod' }));
    const request = await makeHandler(validateInput)(EVENT);
    expect(request).toMatchObject({
      environment: 'prod',
      changeId: 'co-1',
      httpBase: 'http://sidecar.internal:7070',
    });
    expect(ssm.calls()).toHaveLength(0);
    expect(ecs.calls()).toHaveLength(0);
    expect(s3.calls()).toHaveLength(0);
    expect(printed()).toContain('step succeeded');
    expect(printed()).not.toContain('OPS-4711');
  });

  it('lets the named error through unchanged, logging its name but not the event', async () => {
    useConfig(testConfig());
    const err = await rejection(
      makeHandler(validateInput)({ ...EVENT, input: { reason: 'OPS-4711', typo: 1 } }),
    );
    expect(err.name).toBe('InvalidInputError');
    expect(err.message).toContain('typo');
    const log = printed();
    expect(log).toContain('"errorName":"InvalidInputError"');
    expect(log).toContain('"step":"validate-input"');
    expect(log).not.toContain('OPS-4711');
  });

  it('refuses an unknown flag by name before any SSM call', async () => {
    useConfig(testConfig());
    const err = await rejection(
      makeHandler(setFlags)({ changes: [{ name: 'memory/providr', value: 'http' }] }),
    );
    expect(err.name).toBe('UnknownFlagError');
    expect(ssm.calls()).toHaveLength(0);
  });

  it('wires the SSM flag store under the configured prefix', async () => {
    useConfig(testConfig({ flagPrefix: '/switchback/prod/' }));
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'native', Version: 3 } });
    ssm.on(PutParameterCommand).resolves({ Version: 4 });
    const result = await makeHandler(setFlags)({ changes: [{ name: 'memory/provider', value: 'http' }] });
    expect(result).toEqual({
      changed: 1,
      flags: [{ name: 'memory/provider', value: 'http', version: 4, changed: true }],
    });
    expect(ssm.commandCalls(PutParameterCommand)[0]!.args[0].input).toMatchObject({
      Name: '/switchback/prod/memory/provider',
      Value: 'http',
    });
  });

  it('lets an adapter error (ServiceNotFoundError) through by name', async () => {
    useConfig(testConfig());
    ecs.on(DescribeServicesCommand).resolves({ services: [], failures: [{ reason: 'MISSING' }] });
    const err = await rejection(
      makeHandler(checkStable)({ service: 'api', deploymentId: 'ecs-svc/1', attempt: 0, maxAttempts: 3 }),
    );
    expect(err.name).toBe('ServiceNotFoundError');
    expect(ecs.commandCalls(DescribeServicesCommand)[0]!.args[0].input).toEqual({
      cluster: 'switchback-test',
      services: ['memory-api'],
    });
  });
});

describe('awsDeps: config rollback and last known good', () => {
  const journal = {
    table: 'switchback-test-journal',
    retentionDays: 90,
    bakeMinutes: 30,
    services: { api: 'memory-api', sidecar: 'memory-sidecar' },
    watched: {},
  };
  const catalog = localAlarmCatalog('test');

  it('wires the watched parameters and the rollback alarms of the catalog beside the journal', async () => {
    useConfig({ ...testConfig(), journal });
    vi.stubEnv(ALARM_CATALOG_ENV, JSON.stringify(catalog));
    const deps = awsDeps(createLogger('rollback-plan'));
    ssm.on(GetParameterCommand).resolves({ Parameter: { Type: 'String', Value: 'true', Version: 3 } });
    await expect(deps.watched?.get('/memory/test/mcp/AUTONOMOUS_MODE')).resolves.toEqual({
      version: 3,
      type: 'String',
      value: 'true',
    });
    expect(ssm.commandCalls(GetParameterCommand)[0]!.args[0].input).toEqual({
      Name: '/memory/test/mcp/AUTONOMOUS_MODE',
      WithDecryption: false,
    });
    cloudwatch.on(DescribeAlarmHistoryCommand).resolves({ AlarmHistoryItems: [] });
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
    const now = Date.now();
    await deps.alarmHistory?.history({ since: new Date(now - 3_600_000), until: new Date(now) });
    const asked = cloudwatch.commandCalls(DescribeAlarmHistoryCommand).map((c) => c.args[0].input.AlarmName);
    expect(asked).toEqual(
      Object.keys(catalog.alarms)
        .map((id) => `${catalog.namePrefix}${id}`)
        .sort(),
    );
    expect(deps.alarms).toEqual(catalog);
  });

  it('gives no alarm history to a function without the catalog, and neither port without the journal', () => {
    useConfig({ ...testConfig(), journal });
    vi.stubEnv(ALARM_CATALOG_ENV, undefined);
    const withJournal = awsDeps(createLogger('journal'));
    expect(withJournal.watched).toBeDefined();
    expect(withJournal.alarmHistory).toBeUndefined();
    useConfig(testConfig());
    const without = awsDeps(createLogger('set-flags'));
    expect(without.watched).toBeUndefined();
    expect(without.alarmHistory).toBeUndefined();
  });
});
