import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { databaseCheck } from '../../functions/database-check/database-check';
import { type Checkpoint, checkpointKey } from '../../functions/migrate-vectors/checkpoint';
import { migrateVectors } from '../../functions/migrate-vectors/migrate-vectors';
import { classify, selectVector } from '../../functions/migrate-vectors/pipeline';
import { RealDatabaseConnector } from '../../functions/shared/adapters/vector-stores';
import { RuntimeConfig } from '../../functions/shared/config';
import { type Deps, invokeStep } from '../../functions/shared/step';
import { chooseVector } from '../../functions/shared/vector-stores';
import { LocalPgvector } from '../../local/pgvector';
import { type DatabaseFixture, databaseFixture, TARGET_URL_PARAMETER, targetRows } from '../support/database';
import { fakeDeps, MemoryBlobStore, MemorySecretStore, testConfig } from '../support/fakes';

/**
 * The migration step and the gates against the real parts: PGlite with pgvector over a socket,
 * reached with `pg`, and the Qdrant stand-in reached over its REST API by the real adapter.
 */
let pgvector: LocalPgvector;
let fixture: DatabaseFixture | undefined;
const connector = new RealDatabaseConnector({ poolSize: 4 });

beforeAll(async () => {
  pgvector = await LocalPgvector.start();
});
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});
afterAll(async () => {
  await connector.close();
  await pgvector?.close();
});

function depsFor(f: DatabaseFixture, blobs = new MemoryBlobStore()) {
  const config = RuntimeConfig.parse({ ...testConfig(), database: f.config });
  const deps: Deps = {
    ...fakeDeps({ config, blobs, secrets: new MemorySecretStore(f.secrets), databases: connector }),
    // Real time: the migration's budget and durations are measured.
    clock: { now: () => new Date() },
  };
  return deps;
}

async function migrateToEnd(deps: ReturnType<typeof depsFor>, changeId: string) {
  const results = [];
  for (let i = 0; i < 500; i++) {
    const r = await invokeStep(migrateVectors, { changeId }, deps);
    results.push(r);
    if (r.done) return results;
  }
  throw new Error('migration never finished');
}

describe('migrate-vectors', () => {
  it('migrates a collection of integer and UUID ids page by page, counting failed and skipped points with reasons', async () => {
    fixture = await databaseFixture(pgvector, { count: 600, malformed: 8 });
    const deps = depsFor(fixture);
    const results = await migrateToEnd(deps, 'cut-1');
    const last = results.at(-1);
    // Several invocations, each within its small time budget, resuming where the last stopped.
    expect(results.length).toBeGreaterThan(1);
    expect(last?.counts).toEqual({
      total: 600,
      succeeded: fixture.collection.expected.succeeded,
      failed: 6,
      skipped: 2,
      written: fixture.collection.expected.succeeded,
    });
    expect(last?.failures).toEqual(fixture.collection.expected.failed);
    expect(last?.skips).toEqual({ 'no-vector': 2 });
    expect(last?.successRate).toBeCloseTo(fixture.collection.expected.succeeded / 598, 6);
    const rows = await targetRows(pgvector);
    expect(rows).toEqual({
      n: fixture.collection.expected.succeeded,
      ids: fixture.collection.expected.succeeded,
      with_vectors: fixture.collection.expected.succeeded,
    });
    // Both id kinds arrived, with their payloads.
    const { rows: kinds } = await pgvector.db.query<{ uuid: number; int: number }>(
      `SELECT count(*) FILTER (WHERE vector_id ~ '-')::int AS uuid, count(*) FILTER (WHERE vector_id ~ '^[0-9]+$')::int AS int FROM memory_fragments`,
    );
    expect(kinds[0]?.uuid).toBeGreaterThan(200);
    expect(kinds[0]?.int).toBeGreaterThan(200);
    // The cursor followed next_page_offset: each scroll after the first asked for the previous page's next offset.
    const offsets = fixture.standin.scrollRequests().map((r) => r.offset);
    expect(offsets[0]).toBeNull();
    expect(new Set(offsets.map(String)).size).toBe(Math.ceil(600 / 64));
  });

  it('after a crash between a committed batch and its checkpoint, the resume stores every point exactly once', async () => {
    fixture = await databaseFixture(pgvector, { count: 500, malformed: 4 });
    const blobs = new MemoryBlobStore();
    const deps = depsFor(fixture, blobs);
    const key = checkpointKey(fixture.config, 'test', 'cut-crash');
    // The 4th checkpoint write "crashes" the invocation: batch 4 is committed, its checkpoint is not
    // (and the failure surfaces while batch 5 is written, which commits too).
    const put = blobs.put.bind(blobs);
    let writes = 0;
    blobs.put = async (k, body, type) => {
      if (k === key && ++writes === 4) throw new Error('Lambda killed (injected)');
      return put(k, body, type);
    };
    const crashing = {
      ...deps,
      config: RuntimeConfig.parse({
        ...deps.config,
        database: { ...fixture.config, migration: { batchSize: 64, timeBudgetSeconds: 600 } },
      }),
    };
    await expect(invokeStep(migrateVectors, { changeId: 'cut-crash' }, crashing)).rejects.toThrow(
      'Lambda killed',
    );
    const before = JSON.parse(blobs.text(key) as string) as Checkpoint;
    expect(before.pages).toBe(3);
    const afterCrash = (await targetRows(pgvector)).n;
    expect(afterCrash).toBeGreaterThan(before.counts.succeeded); // batch 4 is in the table
    const results = await migrateToEnd(deps, 'cut-crash');
    const last = results.at(-1);
    expect(last?.counts.succeeded).toBe(fixture.collection.expected.succeeded);
    expect(last?.counts.total).toBe(500);
    const rows = await targetRows(pgvector);
    expect(rows.n).toBe(fixture.collection.expected.succeeded);
    expect(rows.ids).toBe(rows.n);
    // The re-done batch changed nothing: only the rows of batch 4 were not (re)written by the resume.
    expect(last?.counts.written).toBe(rows.n - (afterCrash - before.counts.succeeded));
  });

  it('when Qdrant fails mid-scroll, the step fails with a retryable error and the retry resumes from the checkpoint', async () => {
    fixture = await databaseFixture(pgvector, { count: 400, malformed: 0 });
    const deps = depsFor(fixture);
    fixture.standin.failRequests(/\/points\/scroll$/, { after: 3 });
    const bigBudget = {
      ...deps,
      config: RuntimeConfig.parse({
        ...deps.config,
        database: { ...fixture.config, migration: { batchSize: 50, timeBudgetSeconds: 600 } },
      }),
    };
    await expect(invokeStep(migrateVectors, { changeId: 'cut-503' }, bigBudget)).rejects.toMatchObject({
      name: 'VectorSourceUnavailableError',
    });
    const resumed = await invokeStep(migrateVectors, { changeId: 'cut-503' }, bigBudget);
    expect(resumed.done).toBe(true);
    expect(resumed.invocations).toBe(2);
    expect(resumed.counts).toMatchObject({ total: 400, succeeded: 400, failed: 0 });
    expect(await targetRows(pgvector)).toEqual({ n: 400, ids: 400, with_vectors: 400 });
    // The retry asked Qdrant for the page after the last checkpointed one, not from the start.
    const offsets = fixture.standin.scrollRequests().map((r) => r.offset);
    expect(offsets.filter((o) => o === null)).toHaveLength(1);
  });

  it('a finished migration returns its summary unchanged, and a second migration of the same data writes nothing', async () => {
    fixture = await databaseFixture(pgvector, { count: 200, malformed: 0 });
    const deps = depsFor(fixture);
    const first = (await migrateToEnd(deps, 'cut-a')).at(-1);
    const scrolls = fixture.standin.scrollRequests().length;
    const again = await invokeStep(migrateVectors, { changeId: 'cut-a' }, deps);
    expect(again).toEqual(first);
    expect(fixture.standin.scrollRequests()).toHaveLength(scrolls);
    const second = (await migrateToEnd(deps, 'cut-b')).at(-1);
    expect(second?.counts).toEqual({ total: 200, succeeded: 200, failed: 0, skipped: 0, written: 0 });
    expect(await targetRows(pgvector)).toEqual({ n: 200, ids: 200, with_vectors: 200 });
  });

  it('refuses a bad input before reading anything', async () => {
    fixture = await databaseFixture(pgvector, { count: 10, malformed: 0 });
    const deps = depsFor(fixture);
    await expect(invokeStep(migrateVectors, { changeId: '../x' }, deps)).rejects.toMatchObject({
      name: 'InvalidInputError',
    });
    expect(fixture.standin.requests).toHaveLength(0);
  });
});

describe('database-check gates', () => {
  async function migrated(options: Parameters<typeof databaseFixture>[1] = {}) {
    fixture = await databaseFixture(pgvector, { count: 300, malformed: 4, ...options });
    const deps = depsFor(fixture);
    await migrateToEnd(deps, 'gates');
    return deps;
  }
  const gate = (deps: ReturnType<typeof depsFor>, name: string) =>
    invokeStep(databaseCheck, { action: 'gate', changeId: 'gates', gate: name }, deps);

  it('pass on a faithful migration, each with its evidence in the bucket', async () => {
    const deps = await migrated({ indexOpclass: 'vector_cosine_ops' });
    for (const name of ['mapping', 'migration', 'counts', 'payloads', 'recall', 'consistency']) {
      const r = await gate(deps, name);
      expect(r, name).toMatchObject({ gate: name, passed: true });
      const evidence = (deps.blobs as MemoryBlobStore).json((r as { evidenceKey: string }).evidenceKey) as {
        passed: boolean;
      };
      expect(evidence.passed).toBe(true);
    }
    const recall = (deps.blobs as MemoryBlobStore).json(
      'database-cutovers/test/gates/evidence/gate-recall.json',
    ) as {
      evidence: { meanRecall: number; minRecall: number; queries: number };
    };
    expect(recall.evidence.queries).toBe(10);
    expect(recall.evidence.meanRecall).toBeGreaterThanOrEqual(0.95);
  });

  it('mapping fails on a wrong dimension, or an index for another distance', async () => {
    fixture = await databaseFixture(pgvector, { count: 20, malformed: 0, targetDimension: 12 });
    await expect(gate(depsFor(fixture), 'mapping')).rejects.toMatchObject({
      name: 'DatabaseGateFailedError',
      message: expect.stringContaining('dimension differs: Qdrant 16'),
    });
    await fixture.close();
    fixture = await databaseFixture(pgvector, { count: 20, malformed: 0, indexOpclass: 'vector_l2_ops' });
    await expect(gate(depsFor(fixture), 'mapping')).rejects.toThrow(
      'needs vector_cosine_ops, the index uses vector_l2_ops',
    );
  });

  it('recall fails below the floor when the target ranks differently', async () => {
    const deps = await migrated();
    await pgvector.db.exec(
      `UPDATE memory_fragments SET embedding = (SELECT array_agg(random())::vector(16) FROM generate_series(1,16)) WHERE id % 3 <> 0`,
    );
    await expect(gate(deps, 'recall')).rejects.toThrow(/Gate recall failed: recall@10 mean 0\.\d+/);
  });

  it("consistency fails when an organisation can see another one's rows, or an attachment has neither data nor path", async () => {
    const deps = await migrated();
    await pgvector.db.exec('ALTER TABLE memory_fragments DISABLE ROW LEVEL SECURITY');
    await expect(gate(deps, 'consistency')).rejects.toThrow(
      /organisations not isolated: a session for org-\w \(role app_user\) sees \d+ of its \d+ rows and \d+ rows of other organisations/,
    );
    await pgvector.db.exec(
      `ALTER TABLE memory_fragments ENABLE ROW LEVEL SECURITY; INSERT INTO attachments (org_id) VALUES ('org-a')`,
    );
    await expect(gate(deps, 'consistency')).rejects.toThrow(
      '1 attachments have neither file data nor a storage path',
    );
  });

  it('counts fail when a row was lost after the migration', async () => {
    const deps = await migrated();
    await pgvector.db.exec(`DELETE FROM memory_fragments WHERE id = (SELECT min(id) FROM memory_fragments)`);
    await expect(gate(deps, 'counts')).rejects.toThrow(/rows with an embedding, expected/);
  });

  it('the connection check refuses a URL that is not the transaction pooler, naming only the port', async () => {
    fixture = await databaseFixture(pgvector, { count: 10, malformed: 0, config: { poolerPort: 6543 } });
    const deps = depsFor(fixture);
    const err = await invokeStep(
      databaseCheck,
      { action: 'connection', changeId: 'conn', connection: 'pgvector' },
      deps,
    ).catch((e) => e);
    expect(err).toMatchObject({ name: 'ConnectionCheckFailedError' });
    expect(err.message).toContain(`port ${pgvector.port} is not the transaction pooler port 6543`);
    expect(err.message).not.toContain(fixture.password);
    expect(
      JSON.stringify(
        [...(deps.blobs as MemoryBlobStore).objects.keys()].map((k) =>
          (deps.blobs as MemoryBlobStore).text(k),
        ),
      ),
    ).not.toContain(fixture.password);
    expect((deps.secrets as MemorySecretStore).requested).toEqual([TARGET_URL_PARAMETER]);
  });
});

describe('which vector a point gives, as Qdrant answers it', () => {
  const dense = [0.1, 0.2, 0.3];
  it.each([
    ['the unnamed vector', dense, undefined, { vector: dense }],
    ['no vector ({})', {}, undefined, { reason: 'no-vector', kind: 'skipped' }],
    ['no vector (absent)', undefined, undefined, { reason: 'no-vector', kind: 'skipped' }],
    [
      'the unnamed one in a map (beside a sparse one)',
      { '': dense, kw: { indices: [1], values: [1] } },
      undefined,
      { vector: dense },
    ],
    [
      'a map without the unnamed one',
      { text: dense },
      undefined,
      { reason: 'named-or-sparse-vector', kind: 'failed' },
    ],
    ['the named one', { text: dense, image: [1, 2, 3] }, 'text', { vector: dense }],
    ['the named one absent', { image: dense }, 'text', { reason: 'no-vector', kind: 'skipped' }],
    ['a bare vector when a name is set', dense, 'text', { reason: 'unnamed-vector', kind: 'failed' }],
    [
      'a sparse vector by that name',
      { text: { indices: [1], values: [0.5] } },
      'text',
      { reason: 'sparse-vector', kind: 'failed' },
    ],
    ['a multivector', { text: [dense, dense] }, 'text', { reason: 'multivector', kind: 'failed' }],
  ])('%s', (_what, vector, name, expected) => {
    expect(selectVector(vector, name)).toEqual(expected);
  });

  it('classify: a payload of {} fails as no-payload, one without the organisation as missing-org', () => {
    const { rows, rejected } = classify(
      [
        { id: 1, vector: dense, payload: {} },
        { id: 2, vector: dense, payload: { text: 'x' } },
        { id: '18446744073709551615', vector: dense, payload: { org_id: 'a' } },
      ],
      3,
      'org_id',
    );
    expect(rejected).toEqual([
      { id: 1, reason: 'no-payload', kind: 'failed' },
      { id: 2, reason: 'missing-org', kind: 'failed' },
    ]);
    expect(rows.map((r) => r.vectorId)).toEqual(['18446744073709551615']);
  });
});

describe('which vector of a collection is migrated', () => {
  const v = (name: string | null, multivector = false) => ({
    name,
    size: 8,
    distance: 'Cosine',
    multivector,
  });
  it.each([
    ['one unnamed vector', [v(null)], [], undefined, null],
    ['the named one configured', [v('text'), v('image')], [], 'text', null],
    ['named vectors, none configured', [v('text')], [], undefined, 'set database.source.qdrant.vector'],
    ['a name the collection lacks', [v('text')], [], 'body', 'no vector named "body" (it has text)'],
    ['a name for an unnamed vector', [v(null)], [], 'text', 'one unnamed vector: remove the setting'],
    ['dense and sparse', [v(null)], ['kw'], undefined, 'sparse vectors (kw)'],
    ['sparse only', [], ['kw'], undefined, 'no dense vector'],
    ['a multivector', [v(null, true)], [], undefined, 'is a multivector'],
  ])('%s', (_what, vectors, sparseVectors, wanted, problem) => {
    const choice = chooseVector({ vectors, sparseVectors, pointsCount: 0 }, wanted);
    if (problem === null) expect(choice.vector?.name ?? null).toBe(wanted ?? null);
    else expect(choice.problems.join('; ')).toContain(problem);
  });
});
