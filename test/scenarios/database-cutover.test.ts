import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alarmStateChange } from '../../local/alarm-event';
import type { ExecutionRecord } from '../../local/engine';
import { LocalPgvector } from '../../local/pgvector';
import type { World } from '../../local/world';
import { type DatabaseFixture, databaseFixture, QDRANT_KEY_PARAMETER, targetRows } from '../support/database';
import { noticeOf, pathOf, startWorld } from '../support/world';

/**
 * Whole database cutovers (seed 002) on the local world: the reference API restarted by the
 * process supervisor, SSM-like flags, s3rver, the lock table, the Qdrant stand-in serving a
 * generated collection, and PGlite with pgvector behind a socket as the target. Each case
 * asserts the path taken and the end state: database/active, what the API reports, maintenance,
 * the target's rows, the lock, the report and the notification; and that no secret leaked.
 */
let pgvector: LocalPgvector;
beforeAll(async () => {
  pgvector = await LocalPgvector.start();
});
afterAll(async () => {
  await pgvector?.close();
});

type TestWorld = World & { dispose(): Promise<void> };

async function setUp(
  fixtureOptions: Parameters<typeof databaseFixture>[1] = {},
  worldOptions: Parameters<typeof startWorld>[0] = {},
) {
  const fixture = await databaseFixture(pgvector, { count: 400, malformed: 6, ...fixtureOptions });
  const world = await startWorld({
    ...worldOptions,
    database: { config: fixture.config, secrets: fixture.secrets },
  });
  return { fixture, world };
}

async function tearDown(fixture: DatabaseFixture, world: TestWorld) {
  await world.dispose();
  await fixture.close();
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

/** The target's password and the Qdrant key appear in no execution, notification, log, report or object. */
function expectNoSecrets(world: World, fixture: DatabaseFixture) {
  const traces = [
    JSON.stringify(world.engine.executions),
    JSON.stringify(world.engine.notifications),
    JSON.stringify(world.logs.entries),
    ...filesUnder(join(world.dir, 's3')).map((f) => readFileSync(f, 'utf8')),
    ...filesUnder(join(world.dir, 'logs')).map((f) => readFileSync(f, 'utf8')),
  ];
  expect(traces.join('\n').length).toBeGreaterThan(10_000);
  for (const [i, trace] of traces.entries()) {
    // Booleans, not toContain: a failure message must not print the secret either.
    expect(trace.includes(fixture.password), `trace #${i} holds the database password`).toBe(false);
    expect(trace.includes(fixture.qdrantKey), `trace #${i} holds the Qdrant key`).toBe(false);
  }
}

async function apiHealth(world: World) {
  return (await world.apiHealth()).body as { status: string; database: string; maintenance: boolean };
}

async function s3Json(world: World, key: string) {
  const body = await world.blobs.get(key);
  if (!body) throw new Error(`no object ${key}`);
  return JSON.parse(new TextDecoder().decode(body));
}

function childOf(world: World, parent: ExecutionRecord, procedure: string) {
  return world.engine.executions.find((e) => e.parentArn === parent.arn && e.procedure === procedure);
}

describe('database-cutover', () => {
  it('migrates, passes every gate, switches, restarts, monitors, reopens, signs off; a second run changes nothing', async () => {
    const { fixture, world } = await setUp(
      { config: { backups: ['memory'] }, indexOpclass: 'vector_cosine_ops' },
      { postgres: true },
    );
    try {
      const before = await world.parameters.get('database/active');
      const run = await world.engine.run(
        'database-cutover',
        { reason: 'Seed 002 cutover (CHG-2002)', requestedBy: 'alice' },
        { name: 'db-cut-1' },
      );
      expect(run.status, `${run.error}: ${run.cause}`).toBe('SUCCEEDED');
      const path = pathOf(run);
      expect(path.slice(0, 6)).toEqual([
        'ValidateInput',
        'AcquireLock',
        'Preflight',
        'RecordChange',
        'MaintenanceOn',
        'RestartApi',
      ]);
      expect(path).toEqual(
        expect.arrayContaining([
          'BackupTarget',
          'VerifyMapping',
          'MigrateVectors',
          'GateMigration',
          'GateCounts',
          'GatePayloads',
          'GateRecall',
          'GateConsistency',
          'CheckNewConnection',
          'SwitchDatabase',
          'SmokeTests',
          'MonitoringWindow',
          'CheckAfterWindow',
          'MaintenanceOff',
          'VerifyServing',
          'CloseChange',
          'WriteReport',
          'ReleaseLock',
          'Notify',
          'PublishNotice',
        ]),
      );
      // The migration looped: several invocations, each within its budget.
      expect(path.filter((s) => s === 'MigrateVectors').length).toBeGreaterThan(1);
      // The order seed 002 asks for: gates before the switch, smoke tests after the restart.
      expect(path.indexOf('GateConsistency')).toBeLessThan(path.indexOf('SwitchDatabase'));
      expect(path.lastIndexOf('RestartApi')).toBeGreaterThan(path.indexOf('MaintenanceOff'));
      // The verified backup ran as the nested backup procedure.
      const backup = childOf(world, run, 'backup');
      expect(backup?.status).toBe('SUCCEEDED');

      // End state: the backend on pgvector, out of maintenance, every valid point once.
      expect(await world.parameters.get('database/active')).toEqual({
        value: 'pgvector',
        version: before.version + 1,
      });
      expect((await world.parameters.get('maintenance-mode')).value).toBe('off');
      expect(await apiHealth(world)).toMatchObject({
        status: 'ok',
        database: 'pgvector',
        maintenance: false,
      });
      const expected = fixture.collection.expected.succeeded;
      expect(await targetRows(pgvector)).toEqual({ n: expected, ids: expected, with_vectors: expected });
      expect(await world.lock()).toBeUndefined();

      // Every gate's evidence in the report, and seed 002's sign-off.
      const prefix = 'database-cutovers/rehearsal/db-cut-1';
      const report = await s3Json(world, `${prefix}/report.json`);
      expect(report.gates.map((g: { gate: string; passed: boolean }) => [g.gate, g.passed])).toEqual([
        ['mapping', true],
        ['migration', true],
        ['counts', true],
        ['payloads', true],
        ['recall', true],
        ['consistency', true],
      ]);
      const gate = (name: string) => report.gates.find((g: { gate: string }) => g.gate === name).evidence;
      expect(gate('mapping')).toMatchObject({
        qdrant: { size: 16, distance: 'Cosine' },
        target: { dimension: 16 },
        expected: { opclass: 'vector_cosine_ops' },
      });
      const failed = Object.values(fixture.collection.expected.failed).reduce((a, b) => a + b, 0);
      const skipped = Object.values(fixture.collection.expected.skipped).reduce((a, b) => a + b, 0);
      expect(failed + skipped).toBe(6);
      // The defects real collections hold: no organisation, no payload (`{}`), no vector (`{}`).
      expect(Object.keys(fixture.collection.expected.failed).sort()).toEqual(['missing-org', 'no-payload']);
      expect(Object.keys(fixture.collection.expected.skipped)).toEqual(['no-vector']);
      expect(gate('migration')).toMatchObject({
        counts: { total: 400, succeeded: expected, failed, skipped },
        failures: fixture.collection.expected.failed,
        skips: fixture.collection.expected.skipped,
        targetSeconds: 1800,
        withinTarget: true,
      });
      expect(gate('migration').successRate).toBeGreaterThanOrEqual(0.95);
      expect(gate('counts')).toMatchObject({
        qdrantCount: 400,
        rowsWithEmbedding: expected,
        distinctVectorIds: expected,
        failed,
        skipped,
      });
      expect(gate('payloads').mismatches).toEqual([]);
      expect(gate('recall').meanRecall).toBeGreaterThanOrEqual(0.95);
      expect(gate('recall').minRecall).toBeGreaterThanOrEqual(0.85);
      expect(gate('consistency')).toMatchObject({
        fragments: { total_fragments: expected, with_vectors: expected, vectors_only: 0 },
        problematicAttachments: 0,
        orgCount: 3,
        rls: { visibleOther: 0, rlsEnabled: true },
      });
      expect(report.checks.map((c: { name: string; passed: boolean }) => [c.name, c.passed])).toEqual(
        expect.arrayContaining([
          ['connection-pgvector', true],
          ['smoke-after-switch', true],
          ['smoke-after-window', true],
          ['smoke-serving', true],
        ]),
      );
      const smoke = report.checks.find((c: { name: string }) => c.name === 'smoke-after-switch').detail
        .checks;
      expect(smoke.map((c: { name: string; passed: boolean }) => [c.name, c.passed])).toEqual([
        ['health', true],
        ['database', true],
        ['rls', true],
        ['vector-search', true],
        ['storage', true],
      ]);
      expect(report.backups).toHaveLength(1);
      expect(report.backups[0]).toMatchObject({ store: 'postgres', database: 'memory', verified: true });
      const signOff = await s3Json(world, `${prefix}/sign-off.json`);
      expect(signOff).toMatchObject({ lead: 'alice', status: 'SUCCESS', issuesEncountered: 'none' });
      expect(Object.keys(signOff)).toEqual([
        'date',
        'time',
        'lead',
        'status',
        'issuesEncountered',
        'postCutoverNotes',
      ]);
      const md = new TextDecoder().decode(await world.blobs.get(`${prefix}/report.md`));
      expect(md).toContain('Status: [x] SUCCESS [ ] ROLLBACK');
      const notice = noticeOf(world.engine.notifications.at(-1));
      expect(notice).toMatchObject({
        outcome: 'cutover-succeeded',
        active: 'pgvector',
        report: { markdownKey: `${prefix}/report.md` },
      });

      // A second run: already on pgvector, nothing read, written or switched.
      const scrolls = fixture.standin.scrollRequests().length;
      const flags = {
        active: await world.parameters.get('database/active'),
        maintenance: await world.parameters.get('maintenance-mode'),
      };
      const again = await world.engine.run(
        'database-cutover',
        { reason: 'Run it again' },
        { name: 'db-cut-2' },
      );
      expect(again.status).toBe('SUCCEEDED');
      expect(pathOf(again)).toEqual([
        'ValidateInput',
        'AcquireLock',
        'Preflight',
        'ReleaseLockAlreadyActive',
        'Notify',
        'PublishNotice',
        'AlreadyActive',
      ]);
      expect(again.output).toMatchObject({ outcome: 'already-active', changed: false });
      expect({
        active: await world.parameters.get('database/active'),
        maintenance: await world.parameters.get('maintenance-mode'),
      }).toEqual(flags);
      expect(fixture.standin.scrollRequests()).toHaveLength(scrolls);
      expect(await targetRows(pgvector)).toEqual({ n: expected, ids: expected, with_vectors: expected });
      expect(await world.lock()).toBeUndefined();
      expectNoSecrets(world, fixture);
    } finally {
      await tearDown(fixture, world);
    }
  });

  it('a crash mid-migration is retried from the checkpoint: every point exactly once', async () => {
    // One invocation would do it all: the crash is what splits it.
    const { fixture, world } = await setUp({
      count: 500,
      malformed: 0,
      config: { migration: { batchSize: 64, timeBudgetSeconds: 600 } },
    });
    try {
      // Qdrant answers 503 to the 4th scroll: the invocation fails after committing 3 batches.
      fixture.standin.failRequests(/\/points\/scroll$/, { after: 3 });
      const run = await world.engine.run(
        'database-cutover',
        { reason: 'Cutover with a flaky source' },
        { name: 'db-crash' },
      );
      expect(run.status, `${run.error}: ${run.cause}`).toBe('SUCCEEDED');
      const migrate = run.steps.filter((s) => s.state === 'MigrateVectors');
      expect(migrate.reduce((n, s) => n + s.retries, 0)).toBe(1);
      // The retry resumed: the first page was asked for once.
      expect(fixture.standin.scrollRequests().filter((r) => r.offset === null)).toHaveLength(1 + 1); // + the payload gate's first page
      expect(await targetRows(pgvector)).toEqual({ n: 500, ids: 500, with_vectors: 500 });
      const checkpoint = await s3Json(
        world,
        'database-cutovers/rehearsal/db-crash/migration-checkpoint.json',
      );
      expect(checkpoint.counts).toMatchObject({ total: 500, succeeded: 500, failed: 0, skipped: 0 });
      expect((await world.parameters.get('database/active')).value).toBe('pgvector');
      expectNoSecrets(world, fixture);
    } finally {
      await tearDown(fixture, world);
    }
  });

  it('a collection of the wrong dimension fails the mapping gate: rolled back, the old store serving', async () => {
    const { fixture, world } = await setUp({ count: 100, malformed: 0, targetDimension: 12 });
    try {
      const before = await world.parameters.get('database/active');
      const run = await world.engine.run(
        'database-cutover',
        { reason: 'Cutover onto a 12-d table' },
        { name: 'db-dim' },
      );
      expect(run.status).toBe('FAILED');
      expect(run.error).toBe('DatabaseGateFailedError');
      expect(run.cause).toContain('dimension differs: Qdrant 16');
      const path = pathOf(run);
      expect(path).toContain('VerifyMapping');
      expect(path).not.toContain('MigrateVectors');
      expect(path).not.toContain('SwitchDatabase');
      expect(path.slice(-7)).toEqual([
        'RollBack',
        'StartRollback',
        'WriteRollbackReport',
        'ReleaseLockAfterRollback',
        'Notify',
        'PublishNotice',
        'GateFailed',
      ]);
      const rollback = childOf(world, run, 'database-rollback');
      expect(rollback?.status).toBe('SUCCEEDED');
      expect(pathOf(rollback as ExecutionRecord)).toEqual(
        expect.arrayContaining([
          'PlanRollback',
          'SwitchBack',
          'RestartApi',
          'VerifyOldStore',
          'MaintenanceOff',
          'VerifyServing',
          'CloseChange',
        ]),
      );
      // The old store serves: the flag never moved, the API is on legacy and out of maintenance.
      expect(await world.parameters.get('database/active')).toEqual(before);
      expect((await world.parameters.get('maintenance-mode')).value).toBe('off');
      expect(await apiHealth(world)).toMatchObject({ status: 'ok', database: 'legacy', maintenance: false });
      expect((await targetRows(pgvector)).n).toBe(0);
      expect(await world.lock()).toBeUndefined();
      const report = await s3Json(world, 'database-cutovers/rehearsal/db-dim/report.json');
      expect(report.gates).toEqual([expect.objectContaining({ gate: 'mapping', passed: false })]);
      expect(report.signOff).toMatchObject({
        status: 'ROLLBACK',
        issuesEncountered: expect.stringContaining('DatabaseGateFailedError'),
      });
      const oldStore = report.checks.find((c: { name: string }) => c.name === 'smoke-after-rollback').detail;
      expect(oldStore.checks.find((c: { name: string }) => c.name === 'vector-search')).toMatchObject({
        passed: true,
        detail: expect.stringContaining('Qdrant answered 10 results'),
      });
      expect(noticeOf(world.engine.notifications.at(-1))).toMatchObject({
        outcome: 'rolled-back',
        active: 'legacy',
      });
      expectNoSecrets(world, fixture);
    } finally {
      await tearDown(fixture, world);
    }
  });

  it('recall below the floor stops the cutover before the switch', async () => {
    const { fixture, world } = await setUp(
      { count: 300, malformed: 0 },
      {
        hooks: {
          // The target ranks differently from Qdrant (as with a wrong operator or a corrupted index).
          'database-cutover:GateRecall': async () => {
            await pgvector.db.exec(
              `UPDATE memory_fragments SET embedding = (SELECT array_agg(random())::vector(16) FROM generate_series(1, 16)) WHERE id % 4 <> 0`,
            );
          },
        },
      },
    );
    try {
      const before = await world.parameters.get('database/active');
      const run = await world.engine.run(
        'database-cutover',
        { reason: 'Cutover with a broken index' },
        { name: 'db-recall' },
      );
      expect(run.error).toBe('DatabaseGateFailedError');
      expect(run.cause).toMatch(
        /Gate recall failed: recall@10 mean 0\.\d+ \(target 0\.95\), worst query 0(\.\d+)? \(floor 0\.85\)/,
      );
      const path = pathOf(run);
      expect(path).toContain('GateRecall');
      expect(path).not.toContain('GateConsistency');
      expect(path).not.toContain('SwitchDatabase');
      expect(await world.parameters.get('database/active')).toEqual(before);
      expect(await apiHealth(world)).toMatchObject({ database: 'legacy', maintenance: false });
      expect(await world.lock()).toBeUndefined();
      expectNoSecrets(world, fixture);
    } finally {
      await tearDown(fixture, world);
    }
  });

  it('RLS failing after the switch rolls back to the old connection; the new database is left intact', async () => {
    const { fixture, world } = await setUp(
      { count: 300, malformed: 3 },
      {
        hooks: {
          // After the gates passed and the backend switched: someone drops the isolation.
          'database-cutover:SmokeTests': async () => {
            await pgvector.db.exec('ALTER TABLE memory_fragments DISABLE ROW LEVEL SECURITY');
          },
        },
      },
    );
    try {
      const run = await world.engine.run(
        'database-cutover',
        { reason: 'Cutover, RLS lost' },
        { name: 'db-rls' },
      );
      expect(run.error).toBe('CutoverRolledBackError');
      expect(run.cause).toContain('rls:');
      const path = pathOf(run);
      expect(path.indexOf('SwitchDatabase')).toBeLessThan(path.indexOf('SmokeTests'));
      expect(path.slice(-7)).toEqual([
        'RollBack',
        'StartRollback',
        'WriteRollbackReport',
        'ReleaseLockAfterRollback',
        'Notify',
        'PublishNotice',
        'CutoverRolledBack',
      ]);
      // Switched, then switched back: two new versions of database/active, legacy again.
      const active = await world.parameters.get('database/active');
      expect(active).toMatchObject({ value: 'legacy', version: 3 });
      expect((await world.parameters.get('maintenance-mode')).value).toBe('off');
      expect(await apiHealth(world)).toMatchObject({ status: 'ok', database: 'legacy', maintenance: false });
      // Left intact for investigation: every migrated row is still there.
      expect((await targetRows(pgvector)).n).toBe(fixture.collection.expected.succeeded);
      const report = await s3Json(world, 'database-cutovers/rehearsal/db-rls/report.json');
      expect(report.gates.every((g: { passed: boolean }) => g.passed)).toBe(true);
      const smoke = report.checks.find((c: { name: string }) => c.name === 'smoke-after-switch').detail;
      expect(smoke.checks.find((c: { name: string }) => c.name === 'rls')).toMatchObject({
        passed: false,
        detail: expect.stringContaining('row level security OFF'),
      });
      expect(report.signOff.postCutoverNotes).toContain('left intact for investigation');
      const record = await s3Json(world, 'change-records/rehearsal/db-rls.json');
      expect(record.status).toBe('rolled-back');
      expect(record.previous['database/active'].value).toBe('legacy');
      expect(await world.lock()).toBeUndefined();
      expectNoSecrets(world, fixture);
    } finally {
      await pgvector.db.exec('ALTER TABLE memory_fragments ENABLE ROW LEVEL SECURITY');
      await tearDown(fixture, world);
    }
  });

  it('a rollback alarm while the cutover monitors: the router stops it and runs database-rollback from its record', async () => {
    let router: Promise<ExecutionRecord> | undefined;
    const { fixture, world } = await setUp(
      { count: 200, malformed: 0 },
      {
        // Seed 002's rollback trigger (error rate > 5 %), classed as data corruption: a data rollback.
        alarms: { 's002-error-rate': { issueType: 'data-corruption', severity: 'critical' } },
        hooks: {
          // Switched, smoke-tested, in the monitoring window: the alarm goes to ALARM.
          'database-cutover:CheckAfterWindow': async ({ engine }) => {
            router ??= engine.run(
              'rollback-router',
              alarmStateChange('switchback-rehearsal-s002-error-rate', { at: new Date(Date.now() - 1_500) }),
            );
            await router;
          },
        },
      },
    );
    try {
      const cut = await world.engine.run(
        'database-cutover',
        { reason: 'Cutover, then errors' },
        { name: 'db-alarm' },
      );
      const run = await (router as Promise<ExecutionRecord>);
      expect(cut.status).toBe('ABORTED');
      expect(cut.error).toBe('StoppedByRollbackRouter');
      expect(run.status).toBe('SUCCEEDED');
      expect(pathOf(run)).toEqual(
        expect.arrayContaining([
          'TakeOverLock',
          'StopInFlight',
          'ConfirmRecord',
          'RunDatabaseRollback',
          'StartDatabaseRollback',
        ]),
      );
      const rollback = world.engine.executions.find((e) => e.procedure === 'database-rollback');
      expect(rollback?.parentArn).toBe(run.arn);
      expect(rollback?.status).toBe('SUCCEEDED');
      expect((rollback?.input as { changeId?: string } | undefined)?.changeId).toBe('db-alarm');
      // Back on the old store, reopened; the new database intact; the change marked rolled back.
      expect((await world.parameters.get('database/active')).value).toBe('legacy');
      expect(await apiHealth(world)).toMatchObject({ status: 'ok', database: 'legacy', maintenance: false });
      expect((await targetRows(pgvector)).n).toBe(200);
      expect((await s3Json(world, 'change-records/rehearsal/db-alarm.json')).status).toBe('rolled-back');
      expect(await world.lock()).toBeUndefined();
      expect((run.output as { outcome: string }).outcome).toBe('rolled-back');
      expectNoSecrets(world, fixture);
    } finally {
      await tearDown(fixture, world);
    }
  });

  it('refuses a bad input with a named error, before the lock, changing nothing', async () => {
    const { fixture, world } = await setUp({ count: 10, malformed: 0 });
    try {
      const before = await world.parameters.get('database/active');
      const run = await world.engine.run(
        'database-cutover',
        { reason: 'ok', dryRun: true },
        { name: 'db-bad' },
      );
      expect(run.error).toBe('InvalidInputError');
      expect(run.cause).toContain('dryRun');
      expect(pathOf(run)).toEqual(['ValidateInput', 'InputRejected']);
      expect(await world.parameters.get('database/active')).toEqual(before);
      expect(fixture.standin.requests).toHaveLength(0);
      expect(await world.lock()).toBeUndefined();
    } finally {
      await tearDown(fixture, world);
    }
  });
});

/**
 * Collections as real Qdrant holds and answers them: points without vectors or payloads (`{}`),
 * named and sparse vectors, integer ids above 2^53; and Qdrant refusing the key or answering
 * outside its specification. Each runs the whole cutover and asserts its gates' evidence.
 */
describe('database-cutover on collections as Qdrant answers them', () => {
  const gateOf = (report: { gates: { gate: string; evidence: Record<string, unknown> }[] }, name: string) =>
    report.gates.find((g) => g.gate === name)?.evidence as Record<string, unknown>;

  /** A cutover that succeeds with every gate passed, on pgvector afterwards; returns its report. */
  async function expectCutOver(world: World, fixture: DatabaseFixture, name: string) {
    const run = await world.engine.run('database-cutover', { reason: 'Cutover' }, { name });
    expect(run.status, `${run.error}: ${run.cause}`).toBe('SUCCEEDED');
    const report = await s3Json(world, `database-cutovers/rehearsal/${name}/report.json`);
    expect(report.gates.every((g: { passed: boolean }) => g.passed)).toBe(true);
    expect((await world.parameters.get('database/active')).value).toBe('pgvector');
    expectNoSecrets(world, fixture);
    return report;
  }

  /** A mapping-gate refusal: rolled back before any point is read, the old store serving. */
  async function expectRefusedAtMapping(world: World, fixture: DatabaseFixture, name: string) {
    const before = await world.parameters.get('database/active');
    const run = await world.engine.run('database-cutover', { reason: 'Cutover' }, { name });
    expect(run.error).toBe('DatabaseGateFailedError');
    const path = pathOf(run);
    expect(path).toContain('VerifyMapping');
    expect(path).not.toContain('MigrateVectors');
    expect(path.at(-1)).toBe('GateFailed');
    // No page was migrated: the only reads are the rollback's smoke tests of the old store, which
    // still serves the collection (searching its first dense vector).
    expect(fixture.standin.scrollRequests().map((r) => r.limit)).toEqual([20, 20]);
    expect((await targetRows(pgvector)).n).toBe(0);
    expect(await world.parameters.get('database/active')).toEqual(before);
    expect(await apiHealth(world)).toMatchObject({ database: 'legacy', maintenance: false });
    expect(await world.lock()).toBeUndefined();
    const report = await s3Json(world, `database-cutovers/rehearsal/${name}/report.json`);
    expect(report.gates.map((g: { gate: string; passed: boolean }) => [g.gate, g.passed])).toEqual([
      ['mapping', false],
    ]);
    const oldStore = report.checks.find((c: { name: string }) => c.name === 'smoke-after-rollback').detail;
    expect(oldStore.checks.find((c: { name: string }) => c.name === 'vector-search')).toMatchObject({
      passed: true,
      detail: expect.stringContaining('Qdrant answered 10 results'),
    });
    expectNoSecrets(world, fixture);
    return { run, mapping: gateOf(report, 'mapping') };
  }

  it('vectorless points ({}) are skipped and payload-less points ({}) fail: the gate counts each right', async () => {
    // 38 points without vectors and 2 without payload among 200: skips are outside the success
    // rate, so the gate passes (160 of 162); counted as failures it would not (160 of 200).
    const kinds = [...Array.from({ length: 19 }, () => 'no-vector' as const), 'no-payload' as const];
    const { fixture, world } = await setUp({ count: 200, malformed: 40, kinds });
    try {
      const report = await expectCutOver(world, fixture, 'db-empty');
      expect(gateOf(report, 'migration')).toMatchObject({
        counts: { total: 200, succeeded: 160, failed: 2, skipped: 38 },
        failures: { 'no-payload': 2 },
        skips: { 'no-vector': 38 },
        successRate: 160 / 162,
      });
      expect(gateOf(report, 'counts')).toMatchObject({
        qdrantCount: 200,
        rowsWithEmbedding: 160,
        failed: 2,
        skipped: 38,
      });
      expect(await targetRows(pgvector)).toEqual({ n: 160, ids: 160, with_vectors: 160 });
    } finally {
      await tearDown(fixture, world);
    }
  });

  it('named vectors: the one the stage names is migrated, by its name, and the recall reference is exact', async () => {
    const { fixture, world } = await setUp({
      count: 150,
      malformed: 0,
      named: { vector: 'text', other: 'image' },
      qdrant: { vector: 'text' },
    });
    try {
      const report = await expectCutOver(world, fixture, 'db-named');
      expect(gateOf(report, 'mapping')).toMatchObject({
        qdrant: {
          vector: 'text',
          size: 16,
          distance: 'Cosine',
          vectors: [
            { name: 'text', size: 16, distance: 'Cosine', multivector: false },
            { name: 'image', size: 16, distance: 'Cosine', multivector: false },
          ],
          sparseVectors: [],
        },
      });
      // Only "text" was read; the payload gate compared each sampled row with Qdrant's "text".
      expect(fixture.standin.scrollRequests().every((r) => JSON.stringify(r.withVector) === '["text"]')).toBe(
        true,
      );
      expect(gateOf(report, 'payloads').mismatches).toEqual([]);
      expect(gateOf(report, 'migration')).toMatchObject({
        counts: { total: 150, succeeded: 150, failed: 0 },
      });
      // The recall gate's reference: Qdrant's exact search by "text", one per sample query.
      const queries = fixture.standin.requests.filter((r) => r.path.endsWith('/points/query'));
      expect(queries).toHaveLength(10);
      expect(queries.every((q) => q.exact === true && q.using === 'text')).toBe(true);
      expect(gateOf(report, 'recall').meanRecall).toBeGreaterThanOrEqual(0.95);
      expect(await targetRows(pgvector)).toEqual({ n: 150, ids: 150, with_vectors: 150 });
    } finally {
      await tearDown(fixture, world);
    }
  });

  it('named vectors without source.qdrant.vector are refused at the mapping gate, naming the setting', async () => {
    const { fixture, world } = await setUp({
      count: 40,
      malformed: 0,
      named: { vector: 'text', other: 'image' },
    });
    try {
      const { run, mapping } = await expectRefusedAtMapping(world, fixture, 'db-unnamed');
      expect(run.cause).toContain(
        'the collection has named vectors (text, image): set database.source.qdrant.vector to the one to migrate',
      );
      expect(mapping).toMatchObject({ qdrant: { vector: null, sparseVectors: [] } });
    } finally {
      await tearDown(fixture, world);
    }
  });

  it('a dense and a sparse vector are refused at the mapping gate, from the collection config', async () => {
    const { fixture, world } = await setUp({ count: 40, malformed: 0, sparse: 'keywords' });
    try {
      const { run, mapping } = await expectRefusedAtMapping(world, fixture, 'db-sparse');
      expect(run.cause).toContain('the collection has sparse vectors (keywords)');
      expect(mapping).toMatchObject({
        qdrant: {
          vector: null,
          vectors: [{ name: null, size: 16, distance: 'Cosine' }],
          sparseVectors: ['keywords'],
        },
      });
    } finally {
      await tearDown(fixture, world);
    }
  });

  it('integer ids above 2^53 are kept exactly: every point once, none rounded onto another', async () => {
    // Ids 2^63, 2^63 + 2, ...: a float64 holds none of them, and rounds them all onto a few values.
    const { fixture, world } = await setUp({ count: 150, malformed: 0, hugeIds: true });
    try {
      const report = await expectCutOver(world, fixture, 'db-huge');
      const ids = fixture.collection.points.map((p) => String(p.id));
      const huge = ids.filter((id) => /^\d+$/.test(id));
      expect(huge).toHaveLength(75);
      expect(new Set(huge.map(Number)).size).toBeLessThan(5);
      const { rows } = await pgvector.db.query<{ vector_id: string }>(
        'SELECT vector_id FROM memory_fragments',
      );
      expect(rows.map((r) => r.vector_id).sort()).toEqual([...ids].sort());
      // Each page was asked from the exact next_page_offset Qdrant gave.
      const offsets = fixture.standin.scrollRequests().map((r) => String(r.offset));
      expect(offsets.filter((o) => /^\d+$/.test(o)).every((o) => huge.includes(o))).toBe(true);
      expect(gateOf(report, 'counts')).toMatchObject({
        qdrantCount: 150,
        rowsWithEmbedding: 150,
        distinctVectorIds: 150,
      });
      expect(gateOf(report, 'payloads').mismatches).toEqual([]);
    } finally {
      await tearDown(fixture, world);
    }
  });

  it('a wrong API key fails fast with its own name: one request, no retries, nothing changed', async () => {
    const fixture = await databaseFixture(pgvector, { count: 20, malformed: 0 });
    const world = await startWorld({
      database: {
        config: fixture.config,
        secrets: { ...fixture.secrets, [QDRANT_KEY_PARAMETER]: 'qk-not-the-key' },
      },
    });
    try {
      const before = await world.parameters.get('database/active');
      const run = await world.engine.run('database-cutover', { reason: 'Wrong key' }, { name: 'db-key' });
      expect(run.error).toBe('PreflightFailedError');
      expect(run.cause).toContain('QdrantAuthenticationError');
      expect(run.cause).toContain('HTTP 401');
      expect(run.cause).not.toContain('qk-not-the-key');
      expect(pathOf(run)).toEqual([
        'ValidateInput',
        'AcquireLock',
        'Preflight',
        'ReleaseLockNothingChanged',
        'Notify',
        'PublishNotice',
        'PreflightFailed',
      ]);
      expect(run.steps.filter((s) => s.state === 'Preflight').reduce((n, s) => n + s.retries, 0)).toBe(0);
      expect(fixture.standin.requests.map((r) => r.status)).toEqual([401]);
      expect(await world.parameters.get('database/active')).toEqual(before);
      expect((await world.parameters.get('maintenance-mode')).value).toBe('off');
      expect((await targetRows(pgvector)).n).toBe(0);
      expect(await world.lock()).toBeUndefined();
      expectNoSecrets(world, fixture);
    } finally {
      await tearDown(fixture, world);
    }
  });

  it("an answer outside Qdrant's specification is refused by name, not retried, and rolled back", async () => {
    const { fixture, world } = await setUp({ count: 200, malformed: 0 });
    try {
      // The second page: a point whose id is neither an unsigned integer nor a UUID.
      fixture.standin.answerMalformed(
        /\/points\/scroll$/,
        '{"result":{"points":[{"id":-1,"payload":{},"vector":[]}],"next_page_offset":null},"status":"ok","time":0}',
        // Every later page of the migration (batches of 64): the page read ahead, and the same page
        // re-read by the next invocation when the first one's budget ended before it got there.
        // The rollback's smoke test of the old store (a page of 20) is answered as usual.
        { after: 1, times: 100, when: (body) => body.limit === 64 },
      );
      const run = await world.engine.run('database-cutover', { reason: 'Odd answer' }, { name: 'db-odd' });
      expect(run.error).toBe('CutoverRolledBackError');
      expect(run.cause).toContain('QdrantResponseInvalidError');
      expect(run.cause).toContain("does not match Qdrant's specification (result.points.0.id");
      const migrate = run.steps.filter((s) => s.state === 'MigrateVectors');
      expect(migrate.reduce((n, s) => n + s.retries, 0)).toBe(0);
      const path = pathOf(run);
      expect(path).not.toContain('GateMigration');
      expect(path).not.toContain('SwitchDatabase');
      expect(childOf(world, run, 'database-rollback')?.status).toBe('SUCCEEDED');
      // The first page was written before the odd answer; the point of the odd one was not.
      expect((await targetRows(pgvector)).n).toBe(64);
      expect((await world.parameters.get('database/active')).value).toBe('legacy');
      expect(await apiHealth(world)).toMatchObject({ status: 'ok', database: 'legacy', maintenance: false });
      expect(await world.lock()).toBeUndefined();
      expectNoSecrets(world, fixture);
    } finally {
      await tearDown(fixture, world);
    }
  });
});
