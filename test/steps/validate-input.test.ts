import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { smokeTest } from '../../functions/smoke-test/smoke-test';
import { validateInput } from '../../functions/validate-input/validate-input';
import { fakeDeps, testConfig } from '../support/fakes';

const EXECUTION_ID = 'arn:aws:states:eu-west-1:123456789012:execution:provider-rollback:rb-1';
const PARENT_ID = 'arn:aws:states:eu-west-1:123456789012:execution:provider-cutover:co-1';

function event(procedure: 'provider-cutover' | 'provider-rollback', input: unknown, executionName = 'run-1') {
  return { procedure, executionId: EXECUTION_ID, executionName, input };
}

async function rejection(raw: unknown): Promise<Error> {
  const err = await invokeStep(validateInput, raw, fakeDeps()).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidInputError);
  return err as Error;
}

describe('validate-input: provider-cutover', () => {
  it('defaults httpBase to the configured sidecar URL and never runs as an emergency', async () => {
    const deps = fakeDeps({ config: testConfig({ endpoints: { sidecar: 'http://sidecar.test:7070' } }) });
    const request = await invokeStep(
      validateInput,
      event('provider-cutover', { reason: 'move to mem0' }),
      deps,
    );
    expect(request).toMatchObject({
      procedure: 'provider-cutover',
      environment: 'test',
      reason: 'move to mem0',
      requestedBy: 'unknown',
      changeId: 'run-1',
      httpBase: 'http://sidecar.test:7070',
      emergency: false,
      trigger: { source: 'operator', error: null, cause: null },
      lock: { owner: EXECUTION_ID, inherited: false },
      timing: { stabilityPollSeconds: 5, stabilityMaxAttempts: 6 },
      marker: 'switchback-smoke-run-1',
    });
  });

  it('keeps an explicit httpBase and requester, trimming the reason', async () => {
    const request = await invokeStep(
      validateInput,
      event('provider-cutover', {
        reason: '  switch  ',
        requestedBy: 'alice',
        httpBase: 'http://sidecar.internal:7070/v1',
      }),
      fakeDeps(),
    );
    expect(request).toMatchObject({
      reason: 'switch',
      requestedBy: 'alice',
      httpBase: 'http://sidecar.internal:7070/v1',
    });
  });

  it.each([
    ['another host', 'https://mem0.example.com'],
    ['the instance metadata address', 'http://169.254.169.254/latest/meta-data'],
    ['loopback', 'http://127.0.0.1:7070'],
    ['another port of the sidecar host', 'http://sidecar.internal:8080'],
  ])('refuses an httpBase outside the stage: %s', async (_what, httpBase) => {
    const err = await invokeStep(
      validateInput,
      event('provider-cutover', { reason: 'switch', httpBase }),
      fakeDeps(),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toContain("is not the stage's sidecar (http://sidecar.internal:7070)");
  });

  it.each([
    ['reason', { reason: 'ok' }],
    ['reason', {}],
    ['reason', { reason: 42 }],
    ['requestedBy', { reason: 'valid', requestedBy: '' }],
    ['httpBase', { reason: 'valid', httpBase: 'ftp://sidecar' }],
    ['httpBase', { reason: 'valid', httpBase: 'not a url' }],
  ])('refuses a bad %s', async (field, input) => {
    const err = await rejection(event('provider-cutover', input));
    expect(err.message).toContain(`${field}:`);
  });

  it('refuses unknown keys, naming them (a typo must not be ignored)', async () => {
    const err = await rejection(event('provider-cutover', { reason: 'valid', httpbase: 'http://x' }));
    expect(err.message).toContain('httpbase');
  });

  it('does not accept the nested-execution key: a cutover is never started by another execution', async () => {
    const err = await rejection(
      event('provider-cutover', { reason: 'valid', AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: PARENT_ID }),
    );
    expect(err.message).toContain('AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID');
  });

  it.each(['cutover.2025', 'cutover(drill)', 'übergang'])(
    'refuses execution name %s, which cannot be a change id, before the lock is taken',
    async (name) => {
      const err = await rejection(event('provider-cutover', { reason: 'valid' }, name));
      expect(err.message).toContain('executionName');
    },
  );

  it.each([null, 'text', ['reason'], 7])('refuses a non-object input %j', async (input) => {
    const err = await rejection(event('provider-cutover', input));
    expect(err.message).toContain('provider-cutover input');
  });
});

describe('validate-input: provider-rollback', () => {
  it('takes its own lock and applies the defaults', async () => {
    const request = await invokeStep(
      validateInput,
      event('provider-rollback', { reason: 'undo' }),
      fakeDeps(),
    );
    expect(request).toMatchObject({
      procedure: 'provider-rollback',
      changeId: null,
      httpBase: null,
      emergency: false,
      requestedBy: 'unknown',
      trigger: { source: 'operator', error: null, cause: null },
      lock: { owner: EXECUTION_ID, inherited: false },
    });
  });

  it('inherits the lock of the cutover that started it and drops the Step Functions parent key', async () => {
    const request = await invokeStep(
      validateInput,
      event('provider-rollback', {
        reason: 'Automatic rollback',
        requestedBy: 'switchback',
        changeId: 'co-1',
        parentExecutionId: PARENT_ID,
        trigger: { source: 'cutover', error: 'HealthCheckFailedError', cause: 'api is not healthy' },
        AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: PARENT_ID,
      }),
      fakeDeps(),
    );
    expect(request).toMatchObject({
      changeId: 'co-1',
      lock: { owner: PARENT_ID, inherited: true },
      trigger: { source: 'cutover', error: 'HealthCheckFailedError', cause: 'api is not healthy' },
    });
    expect(JSON.stringify(request)).not.toContain('AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID');
  });

  it('passes emergency through', async () => {
    const request = await invokeStep(
      validateInput,
      event('provider-rollback', { reason: 'page at 3am', emergency: true }),
      fakeDeps(),
    );
    expect(request.emergency).toBe(true);
  });

  it.each([
    ['changeId', { reason: 'valid', changeId: '../other-env/x' }],
    ['changeId', { reason: 'valid', changeId: 'a'.repeat(81) }],
    ['emergency', { reason: 'valid', emergency: 'yes' }],
    ['parentExecutionId', { reason: 'valid', parentExecutionId: 'co-1' }],
    ['trigger.source', { reason: 'valid', trigger: { source: 'cron' } }],
    ['trigger.error', { reason: 'valid', trigger: { source: 'alarm', error: 'x'.repeat(257) } }],
    ['trigger', { reason: 'valid', trigger: { source: 'alarm', extra: 1 } }],
    ['reason', { reason: 'x'.repeat(501) }],
  ])('refuses a bad %s', async (field, input) => {
    const err = await rejection(event('provider-rollback', input));
    expect(err.message).toContain(`${field}:`);
    expect(err.message).toContain('provider-rollback input');
  });

  it('refuses unknown keys', async () => {
    const err = await rejection(event('provider-rollback', { reason: 'valid', emergancy: true }));
    expect(err.message).toContain('emergancy');
  });

  it('makes a smoke marker the smoke test accepts from any execution name Step Functions allows', async () => {
    const request = await invokeStep(
      validateInput,
      event('provider-rollback', { reason: 'drill' }, 'rollback(drill)+é'),
      fakeDeps(),
    );
    expect(request.marker).toBe('switchback-smoke-rollback-drill---');
    expect(smokeTest.input.safeParse({ target: 'api', marker: request.marker }).success).toBe(true);
  });
});

describe('validate-input: the event itself', () => {
  it.each([
    ['procedure', { procedure: 'db-migration', executionId: EXECUTION_ID, executionName: 'x', input: {} }],
    ['executionId', { procedure: 'provider-rollback', executionId: '', executionName: 'x', input: {} }],
    ['executionName', { procedure: 'provider-rollback', executionId: EXECUTION_ID, input: {} }],
  ])('refuses a bad %s', async (field, raw) => {
    const err = await rejection(raw);
    expect(err.message).toContain(`${field}:`);
  });
});
