import { describe, expect, it } from 'vitest';
import { rollbackInput } from '../../functions/rollback-input/rollback-input';
import { ConfigurationError, InvalidInputError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { fakeDeps, testConfig } from '../support/fakes';

const EXECUTION_ID = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-test-code-rollback:run-1';
const ROUTER = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-test-rollback-router:inc-1';
const ENTRY = '2025-03-01T11:50:00.000Z#aws.ecs#0b3f6c1e-6a43-4c1c-9a54-2f1ad2bd7c11';

const journal = {
  table: 'journal',
  retentionDays: 90,
  bakeMinutes: 30,
  services: { api: 'memory-api', sidecar: 'memory-sidecar' },
  watched: {
    'mcp/AUTONOMOUS_MODE': {
      name: '/memory/test/mcp/AUTONOMOUS_MODE',
      validator: { type: 'boolean' as const },
      readers: [{ service: 'api', reads: 'at-start' as const }],
      secure: false,
    },
  },
};
const deps = () => fakeDeps({ config: testConfig({ journal }) });
const run = (procedure: 'code-rollback' | 'config-rollback', input: unknown, d = deps()) =>
  invokeStep(rollbackInput, { procedure, executionId: EXECUTION_ID, executionName: 'run-1', input }, d);

async function refusal(procedure: 'code-rollback' | 'config-rollback', input: unknown, d = deps()) {
  const err = await run(procedure, input, d).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

describe('rollback-input: code-rollback and config-rollback', () => {
  it("the router's input: the journal entry to undo, the lock inherited by delegation, the alarm as trigger", async () => {
    const request = await run('code-rollback', {
      reason: 'Alarm s004-error-rate: Error rate > 10 % for 5 min',
      requestedBy: 'switchback-rollback-router',
      changeId: ENTRY,
      parentExecutionId: ROUTER,
      trigger: { source: 'alarm', error: 'switchback-test-s004-error-rate', cause: 'Threshold Crossed' },
    });
    expect(request).toMatchObject({
      procedure: 'code-rollback',
      kind: 'code',
      select: { changeId: ENTRY, since: null, targets: null },
      changeId: ENTRY,
      plan: false,
      emergency: false,
      trigger: { source: 'alarm', error: 'switchback-test-s004-error-rate' },
      lock: { owner: ROUTER, inherited: true },
      marker: 'switchback-smoke-run-1',
    });
  });

  it("an operator's plan for explicit parameters, deduplicated; the lock their own", async () => {
    const request = await run('config-rollback', {
      reason: 'What would a rollback do?',
      parameters: ['mcp/AUTONOMOUS_MODE', 'mcp/AUTONOMOUS_MODE'],
      plan: true,
    });
    expect(request).toMatchObject({
      kind: 'config',
      select: { changeId: null, since: null, targets: ['mcp/AUTONOMOUS_MODE'] },
      changeId: 'run-1',
      plan: true,
      trigger: { source: 'operator', error: null, cause: null },
      lock: { owner: EXECUTION_ID, inherited: false },
    });
  });

  it.each([
    ['an unknown field', { reason: 'roll back', service: ['api'] }, /Unrecognized key.*service/],
    [
      'two selections at once',
      { reason: 'roll back', changeId: ENTRY, services: ['api'] },
      /at most one of changeId, since and services \(got changeId and services\)/,
    ],
    ['a service it does not control', { reason: 'roll back', services: ['worker'] }, /services\.0/],
    ['a malformed journal entry id', { reason: 'roll back', changeId: 'co-1' }, /journal entry id/],
    ['a time in the future', { reason: 'roll back', since: '2999-01-01T00:00:00Z' }, /in the future/],
    ['no reason', { services: ['api'] }, /reason/],
    ['null', null, /expected object/],
  ])('code-rollback refuses %s, naming it, before any side effect', async (_label, input, message) => {
    const err = await refusal('code-rollback', input);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err.message).toMatch(message);
  });

  it('config-rollback refuses a parameter that is not watched, naming the watched ones', async () => {
    const err = await refusal('config-rollback', { reason: 'roll back', parameters: ['mcp/NOPE'] });
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err.message).toMatch(/mcp\/NOPE is not watched in test \(watched: mcp\/AUTONOMOUS_MODE\)/);
  });

  it('a stage without a journal cannot roll back by last known good: a configuration error', async () => {
    const err = await refusal('code-rollback', { reason: 'roll back' }, fakeDeps());
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(err.message).toMatch(/needs the change journal/);
  });
});
