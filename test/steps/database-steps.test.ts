import { describe, expect, it } from 'vitest';
import { changeRecord } from '../../functions/change-record/change-record';
import { databaseCheck } from '../../functions/database-check/database-check';
import { databaseInput } from '../../functions/database-input/database-input';
import { databaseReport } from '../../functions/database-report/database-report';
import { RuntimeConfig } from '../../functions/shared/config';
import { DatabaseRuntimeConfig } from '../../functions/shared/database-config';
import { invokeStep } from '../../functions/shared/step';
import { fakeDeps, type MemoryBlobStore, testConfig } from '../support/fakes';

const database = DatabaseRuntimeConfig.parse({
  connections: { legacy: { urlParameter: '/db/legacy-url' }, pgvector: { urlParameter: '/db/pg-url' } },
  source: { connection: 'legacy', qdrant: { url: 'http://qdrant.internal:6333', collection: 'dac_memory' } },
  target: { connection: 'pgvector' },
  backups: ['memory'],
});
const config = RuntimeConfig.parse({
  ...testConfig(),
  data: {
    postgres: { databases: ['memory'] },
    sqlite: { databases: {} },
    network: { subnets: [], securityGroups: [], assignPublicIp: 'DISABLED' },
    writers: ['api'],
  },
  database,
});
const EXEC = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-test-database-cutover:cut-1';

describe('database-input', () => {
  const input = (procedure: string, body: unknown, name = 'cut-1') =>
    invokeStep(
      databaseInput,
      { procedure, executionId: EXEC, executionName: name, input: body },
      fakeDeps({ config }),
    );

  it('normalises a cutover: its name is the change id, connections by name, the backups to take', async () => {
    expect(
      await input('database-cutover', { reason: 'Seed 002 cutover', requestedBy: 'alice' }),
    ).toMatchObject({
      changeId: 'cut-1',
      requestedBy: 'alice',
      source: { connection: 'legacy' },
      target: { connection: 'pgvector' },
      lock: { owner: EXEC, inherited: false },
      monitoring: { windowSeconds: 1800 },
      backups: [{ store: 'postgres', database: 'memory', reason: 'Before database cutover cut-1' }],
    });
  });

  it.each([
    ['an unknown field', { reason: 'cutover', dryRun: true }, 'cut-1', 'dryRun'],
    ['no reason', {}, 'cut-1', 'reason'],
    ['an execution name that cannot be a change id', { reason: 'cutover' }, 'cut.1', 'execution name'],
  ])('refuses %s with InvalidInputError', async (_what, body, name, field) => {
    await expect(input('database-cutover', body, name)).rejects.toMatchObject({
      name: 'InvalidInputError',
      message: expect.stringContaining(field),
    });
  });

  it('a rollback from a cutover or the router inherits its lock; from an operator it takes its own', async () => {
    expect(
      await input('database-rollback', {
        reason: 'automatic',
        changeId: 'cut-1',
        parentExecutionId: 'arn:aws:states:x:1:execution:p:q',
        trigger: { source: 'cutover', error: 'DatabaseGateFailedError' },
        AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: 'arn:aws:states:x:1:execution:p:q',
      }),
    ).toMatchObject({
      changeId: 'cut-1',
      lock: { owner: 'arn:aws:states:x:1:execution:p:q', inherited: true },
    });
    expect(await input('database-rollback', { reason: 'errors' }, 'rb-1')).toMatchObject({
      changeId: null,
      emergency: false,
      lock: { owner: EXEC, inherited: false },
    });
  });

  it('an environment without a database cutover is a configuration error', async () => {
    await expect(
      invokeStep(
        databaseInput,
        {
          procedure: 'database-cutover',
          executionId: EXEC,
          executionName: 'x',
          input: { reason: 'cutover' },
        },
        fakeDeps(),
      ),
    ).rejects.toMatchObject({ name: 'ConfigurationError' });
  });
});

describe('database-check plan-rollback', () => {
  async function cutOver() {
    const deps = fakeDeps({ config });
    await invokeStep(
      changeRecord,
      {
        action: 'open',
        changeId: 'cut-1',
        procedure: 'database-cutover',
        executionId: EXEC,
        reason: 'r',
        requestedBy: 'alice',
        target: [
          { name: 'database/active', value: 'pgvector' },
          { name: 'maintenance-mode', value: 'on' },
        ],
      },
      deps,
    );
    deps.flags.set('database/active', 'pgvector');
    return deps;
  }
  const plan = (deps: ReturnType<typeof fakeDeps>, changeId: string | null, emergency = false) =>
    invokeStep(databaseCheck, { action: 'plan-rollback', changeId, emergency }, deps);

  it('restores the connection and maintenance mode the change record holds (the latest when none is named)', async () => {
    const deps = await cutOver();
    const expected = {
      changeId: 'cut-1',
      source: 'change-record',
      restoreTo: 'legacy',
      restoreMaintenance: 'off',
      restoreMaintenanceOn: false,
    };
    expect(await plan(deps, 'cut-1')).toMatchObject(expected);
    expect(await plan(deps, null)).toMatchObject(expected);
  });

  it('without any record, goes back to the stage source connection', async () => {
    expect(await plan(fakeDeps({ config }), null)).toMatchObject({
      changeId: null,
      source: 'defaults',
      restoreTo: 'legacy',
    });
  });

  it('refuses when database/active names neither side of the change, unless emergency', async () => {
    const deps = await cutOver();
    deps.flags.set('database/active', 'elsewhere');
    await expect(plan(deps, 'cut-1')).rejects.toMatchObject({
      name: 'FlagDriftError',
      message: expect.stringContaining('"elsewhere"'),
    });
    expect(await plan(deps, 'cut-1', true)).toMatchObject({ restoreTo: 'legacy' });
  });

  it('a named change that does not exist is refused', async () => {
    await expect(plan(fakeDeps({ config }), 'nope')).rejects.toMatchObject({
      name: 'ChangeRecordNotFoundError',
    });
  });
});

describe('database-report', () => {
  it('writes JSON, Markdown and seed 002 sign-off; a rolled-back cutover says ROLLBACK and why', async () => {
    const deps = fakeDeps({ config });
    const blobs = deps.blobs as MemoryBlobStore;
    blobs.putText(
      'database-cutovers/test/cut-9/evidence/gate-mapping.json',
      JSON.stringify({
        gate: 'mapping',
        passed: false,
        summary: 'dimension differs: Qdrant 16, vector(12)',
        evidence: {},
      }),
    );
    const out = await invokeStep(
      databaseReport,
      {
        changeId: 'cut-9',
        executionId: EXEC,
        outcome: 'rolled-back',
        reason: 'Seed 002',
        lead: 'alice',
        source: 'legacy',
        target: 'pgvector',
        failure: { Error: 'DatabaseGateFailedError', Cause: 'Gate mapping failed: dimension differs' },
        rollbackExecution: 'arn:aws:states:x:1:execution:database-rollback:r',
        backups: [],
      },
      deps,
    );
    expect(out).toMatchObject({ status: 'ROLLBACK', gates: [{ gate: 'mapping', passed: false }] });
    expect(blobs.json(out.signOffKey)).toMatchObject({
      lead: 'alice',
      status: 'ROLLBACK',
      issuesEncountered: 'DatabaseGateFailedError: Gate mapping failed: dimension differs',
      postCutoverNotes: expect.stringContaining('left intact for investigation'),
    });
    const md = blobs.text(out.markdownKey) as string;
    expect(md).toContain('| mapping | FAIL | dimension differs: Qdrant 16, vector(12) |');
    expect(md).toContain('Status: [ ] SUCCESS [x] ROLLBACK');
  });
});
