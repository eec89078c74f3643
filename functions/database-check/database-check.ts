import { z } from 'zod';
import { latestRecord, requireRecord } from '../change-record/record';
import { checkpointKey, readCheckpoint } from '../migrate-vectors/checkpoint';
import { selectVector, targetDimension } from '../migrate-vectors/pipeline';
import {
  connectionParameter,
  cutoverPrefix,
  type DatabaseRuntimeConfig,
  databaseConfigOf,
} from '../shared/database-config';
import {
  ConfigurationError,
  ConnectionCheckFailedError,
  DatabaseGateFailedError,
  FlagDriftError,
  SmokeTestFailedError,
} from '../shared/errors';
import { joinUrl, requestJson } from '../shared/http';
import type { Deps } from '../shared/step';
import { defineStep } from '../shared/step';
import { chooseVector, connectorOf, DISTANCE_MAP, quoteTable } from '../shared/vector-stores';
import {
  consistencyGate,
  countsGate,
  type GateResult,
  mappingGate,
  migrationGate,
  payloadsGate,
  recallGate,
  rlsIsolation,
} from './gates';

const ChangeId = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/);
const Connection = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/);

const Preflight = z.strictObject({ action: z.literal('preflight'), changeId: ChangeId });
const Gate = z.strictObject({
  action: z.literal('gate'),
  changeId: ChangeId,
  gate: z.enum(['mapping', 'migration', 'counts', 'payloads', 'recall', 'consistency']),
});
const Connect = z.strictObject({
  action: z.literal('connection'),
  changeId: ChangeId,
  connection: Connection,
});
const Smoke = z.strictObject({
  action: z.literal('smoke'),
  /** Where the evidence goes (the cutover's id); null: only returned. */
  changeId: ChangeId.nullable(),
  /** A name for this round of smoke tests in the evidence (`after-switch`, `after-rollback`, ...). */
  phase: z.string().regex(/^[a-z0-9-]{1,40}$/),
  /** The connection the backend must be on now. */
  expect: Connection,
  /** What the API must report for maintenance mode; omitted: not checked. */
  expectMaintenance: z.boolean().optional(),
});
const PlanRollback = z.strictObject({
  action: z.literal('plan-rollback'),
  changeId: ChangeId.nullable(),
  emergency: z.boolean(),
});
const Input = z.discriminatedUnion('action', [Preflight, Gate, Connect, Smoke, PlanRollback]);

/**
 * The database cutover's checks (seed 002), each a step with a clear pass/fail whose evidence is
 * written to the cutover's folder in the backup bucket before the verdict: preflight, the
 * verification gates, the new connection string, the smoke tests, and the rollback's plan.
 * A failed check throws its named error (the state machine's Catch starts the rollback).
 */
export const databaseCheck = defineStep({
  name: 'database-check',
  input: Input,
  async run(input, deps) {
    const db = databaseConfigOf(deps.config);
    switch (input.action) {
      case 'preflight':
        return preflight(db, deps);
      case 'gate':
        return gate(input, db, deps);
      case 'connection':
        return connection(input, db, deps);
      case 'smoke':
        return smoke(input, db, deps);
      case 'plan-rollback':
        return planRollback(input, db, deps);
    }
  },
});

async function stores(db: DatabaseRuntimeConfig, deps: Deps, connection = db.target.connection) {
  const connector = connectorOf(deps);
  const apiKey = db.source.qdrant.apiKeyParameter
    ? await deps.secrets.get(db.source.qdrant.apiKeyParameter)
    : undefined;
  const sourceOf = (vector: string | undefined) =>
    connector.qdrant({ url: db.source.qdrant.url, collection: db.source.qdrant.collection, apiKey, vector });
  return {
    source: sourceOf(db.source.qdrant.vector),
    /** The source reading another vector (the old store's smoke test searches whatever it serves). */
    sourceOf,
    target: connector.postgres(await deps.secrets.get(connectionParameter(db, connection))),
  };
}

async function writeEvidence(
  deps: Deps,
  db: DatabaseRuntimeConfig,
  changeId: string,
  name: string,
  body: unknown,
) {
  const key = `${cutoverPrefix(db, deps.config.environment, changeId)}/evidence/${name}.json`;
  await deps.blobs.put(key, `${JSON.stringify(body, null, 2)}\n`, 'application/json');
  return key;
}

/** Before anything changes: which connection is active, and both stores answer. */
async function preflight(db: DatabaseRuntimeConfig, deps: Deps) {
  const active = (await deps.flags.get('database/active')).value;
  if (active === db.target.connection) {
    return { active, alreadyActive: true, points: null, dimension: null };
  }
  const { source, target } = await stores(db, deps);
  const info = await source.collection();
  const dimension = await targetDimension(target, db.target.table);
  return { active, alreadyActive: false, points: info.pointsCount, dimension };
}

async function gate(input: z.infer<typeof Gate>, db: DatabaseRuntimeConfig, deps: Deps) {
  const { source, target } = await stores(db, deps);
  const checkpoint = await readCheckpoint(
    deps.blobs,
    checkpointKey(db, deps.config.environment, input.changeId),
  );
  let result: GateResult;
  switch (input.gate) {
    case 'mapping':
      result = await mappingGate(source, target, db.target, db.source.qdrant.vector);
      break;
    case 'migration':
      result = migrationGate(checkpoint, db.gates);
      break;
    case 'counts':
      result = await countsGate(source, target, checkpoint, db.target.table);
      break;
    case 'payloads':
      result = await payloadsGate(
        source,
        target,
        db.target,
        db.gates.payloadSamples,
        checkpoint?.dimension ?? 0,
        db.source.qdrant.vector,
      );
      break;
    case 'recall':
      result = await recallGate(
        source,
        target,
        db.target,
        chooseVector(await source.collection(), db.source.qdrant.vector).vector?.distance ?? '',
        db.gates,
      );
      break;
    case 'consistency':
      result = await consistencyGate(target, db.target);
      break;
  }
  const at = deps.clock.now().toISOString();
  const evidenceKey = await writeEvidence(deps, db, input.changeId, `gate-${result.gate}`, { ...result, at });
  deps.log.info('gate evaluated', { gate: result.gate, passed: result.passed, summary: result.summary });
  if (!result.passed) throw new DatabaseGateFailedError(`Gate ${result.gate} failed: ${result.summary}`);
  return { gate: result.gate, passed: true, summary: result.summary, evidenceKey };
}

/**
 * Seed 002 3a/3b: the new DATABASE_URL must be the transaction pooler (port 6543) when the stage
 * says so, and must answer. Only the port and host are reported, never the URL.
 */
async function connection(input: z.infer<typeof Connect>, db: DatabaseRuntimeConfig, deps: Deps) {
  const raw = await deps.secrets.get(connectionParameter(db, input.connection));
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConnectionCheckFailedError(`The URL of connection ${input.connection} does not parse`);
  }
  const port = url.port ? Number(url.port) : 5432;
  const problems: string[] = [];
  if (!/^postgres(ql)?(\+[a-z]+)?:$/.test(url.protocol))
    problems.push(`scheme ${url.protocol} is not postgresql:`);
  if (db.poolerPort !== null && port !== db.poolerPort) {
    problems.push(
      `port ${port} is not the transaction pooler port ${db.poolerPort} (seed 002: SET LOCAL for RLS needs it)`,
    );
  }
  let tables: number | null = null;
  if (problems.length === 0) {
    // The app's driver suffix (postgresql+asyncpg) is for SQLAlchemy; pg speaks the plain scheme.
    const plain = raw.replace(/^postgres(ql)?\+[a-z]+:/, 'postgresql:');
    const { rows } = await connectorOf(deps)
      .postgres(plain)
      .query<{ table_count: string }>(
        "SELECT COUNT(*) AS table_count FROM information_schema.tables WHERE table_schema = 'public'",
      );
    tables = Number(rows[0]?.table_count ?? 0);
    if (tables === 0) problems.push('the database has no tables in schema public');
  }
  const result = {
    connection: input.connection,
    host: url.hostname,
    port,
    requiredPort: db.poolerPort,
    publicTables: tables,
    passed: problems.length === 0,
    summary: problems.length
      ? problems.join('; ')
      : `connection ${input.connection} on port ${port} answers (${tables} public tables)`,
  };
  await writeEvidence(deps, db, input.changeId, `connection-${input.connection}`, {
    ...result,
    at: deps.clock.now().toISOString(),
  });
  if (!result.passed)
    throw new ConnectionCheckFailedError(`Connection ${input.connection}: ${result.summary}`);
  return result;
}

interface SmokeCheck {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
  readonly ms?: number;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: Math.round((performance.now() - t0) * 10) / 10 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/**
 * Seed 002 step 5 (and the rollback's verification): health, database connectivity, RLS isolation
 * (on the pgvector side), a vector search on the store in use under the latency target, storage.
 */
async function smoke(input: z.infer<typeof Smoke>, db: DatabaseRuntimeConfig, deps: Deps) {
  const checks: SmokeCheck[] = [];
  const onTarget = input.expect === db.target.connection;
  const { source, sourceOf, target } = await stores(db, deps, input.expect);

  // 5a: the API is healthy and reports the connection (and maintenance mode) we expect.
  try {
    const { status, body } = await requestJson(deps.fetch, joinUrl(deps.config.endpoints.api, '/health'), {
      timeoutMs: deps.config.timing.httpTimeoutMs,
    });
    const b = (body ?? {}) as { status?: string; database?: string; maintenance?: boolean };
    const problems = [
      status !== 200 || b.status !== 'ok' ? `answered ${status} ${b.status ?? ''}`.trim() : null,
      b.database !== input.expect
        ? `reports database ${b.database ?? '(none)'}, expected ${input.expect}`
        : null,
      input.expectMaintenance !== undefined && b.maintenance !== input.expectMaintenance
        ? `maintenance mode ${b.maintenance ? 'on' : 'off'}, expected ${input.expectMaintenance ? 'on' : 'off'}`
        : null,
    ].filter((p): p is string => p !== null);
    checks.push({
      name: 'health',
      passed: problems.length === 0,
      detail: problems.join('; ') || `ok, database ${b.database}`,
    });
  } catch (err) {
    checks.push({ name: 'health', passed: false, detail: (err as Error).message });
  }

  // 5b: the active database answers (seed 3b's table count).
  try {
    const { value, ms } = await timed(() =>
      target.query<{ table_count: string }>(
        "SELECT COUNT(*) AS table_count FROM information_schema.tables WHERE table_schema = 'public'",
      ),
    );
    checks.push({
      name: 'database',
      passed: true,
      detail: `${value.rows[0]?.table_count} public tables`,
      ms,
    });
  } catch (err) {
    checks.push({ name: 'database', passed: false, detail: (err as Error).message });
  }

  // 5c: organisations isolated (pgvector side: the policies live there).
  if (onTarget) {
    try {
      const rls = await rlsIsolation(target, db.target);
      checks.push({ name: 'rls', passed: rls.passed, detail: rls.summary });
    } catch (err) {
      checks.push({ name: 'rls', passed: false, detail: (err as Error).message });
    }
  }

  // 5d: a vector search on the store in use answers, under the latency target (median of 3).
  try {
    const times: number[] = [];
    let answered = 0;
    if (onTarget) {
      const chosen = chooseVector(await source.collection(), db.source.qdrant.vector).vector;
      const op = DISTANCE_MAP[chosen?.distance ?? 'Cosine']?.operator ?? '<=>';
      const t = quoteTable(db.target.table);
      const { rows } = await target.query<{ embedding: string }>(
        `SELECT embedding::text AS embedding FROM ${t} WHERE embedding IS NOT NULL LIMIT 1`,
      );
      const probe = rows[0]?.embedding;
      if (!probe) throw new Error(`${db.target.table} holds no embedding to search with`);
      for (let i = 0; i < 3; i++) {
        const { value, ms } = await timed(() =>
          target.query(`SELECT vector_id FROM ${t} ORDER BY embedding ${op} $1::vector LIMIT 10`, [probe]),
        );
        answered = value.rows.length;
        times.push(ms);
      }
    } else {
      // The old store serves whatever it holds, also a collection the migration refuses: search
      // by the configured vector, else by its first dense one.
      const info = await source.collection();
      const using =
        chooseVector(info, db.source.qdrant.vector).vector ?? info.vectors.find((v) => !v.multivector);
      const name = using?.name ?? undefined;
      const old = name === db.source.qdrant.vector ? source : sourceOf(name);
      // The first point of the first page that has that vector (some may have none).
      const page = await old.scroll(null, 20);
      const probe = page.points
        .map((p) => selectVector(p.vector, name))
        .map((s) => ('vector' in s ? s.vector : undefined))
        .find(Array.isArray);
      if (!probe) throw new Error('Qdrant holds no point to search with');
      for (let i = 0; i < 3; i++) {
        const { value, ms } = await timed(() => old.search(probe as number[], 10));
        answered = value.length;
        times.push(ms);
      }
    }
    const ms = median(times);
    const passed = answered > 0 && ms <= db.gates.searchLatencyMs;
    checks.push({
      name: 'vector-search',
      passed,
      detail: `${onTarget ? 'pgvector' : 'Qdrant'} answered ${answered} results, median ${ms} ms (target ${db.gates.searchLatencyMs} ms)`,
      ms,
    });
  } catch (err) {
    checks.push({ name: 'vector-search', passed: false, detail: (err as Error).message });
  }

  // 5e: storage reachable.
  if (db.storageUrl) {
    try {
      const { value: res, ms } = await timed(() =>
        deps.fetch(db.storageUrl as string, {
          signal: AbortSignal.timeout(deps.config.timing.httpTimeoutMs),
        }),
      );
      await res.body?.cancel();
      checks.push({ name: 'storage', passed: res.status < 500, detail: `answered ${res.status}`, ms });
    } catch (err) {
      checks.push({ name: 'storage', passed: false, detail: (err as Error).message });
    }
  } else {
    checks.push({ name: 'storage', passed: true, detail: 'not configured (database.storageUrl)' });
  }

  const passed = checks.every((c) => c.passed);
  const result = {
    phase: input.phase,
    expect: input.expect,
    passed,
    checks,
    at: deps.clock.now().toISOString(),
  };
  if (input.changeId) await writeEvidence(deps, db, input.changeId, `smoke-${input.phase}`, result);
  deps.log.info('smoke tests', {
    phase: input.phase,
    passed,
    failed: checks.filter((c) => !c.passed).map((c) => c.name),
  });
  if (!passed) {
    throw new SmokeTestFailedError(
      `Smoke tests (${input.phase}) failed: ${checks
        .filter((c) => !c.passed)
        .map((c) => `${c.name}: ${c.detail}`)
        .join('; ')}`,
    );
  }
  return { phase: input.phase, passed, checks: checks.map((c) => ({ name: c.name, detail: c.detail })) };
}

/**
 * What a database rollback restores, from the cutover's change record: the connection active
 * before it and the maintenance mode before it. Without a record: the stage's source connection.
 * A non-emergency rollback refuses when `database/active` names neither side of the change.
 */
async function planRollback(input: z.infer<typeof PlanRollback>, db: DatabaseRuntimeConfig, deps: Deps) {
  const prefix = deps.config.changeRecords.prefix;
  const record = input.changeId
    ? await requireRecord(deps.blobs, prefix, input.changeId)
    : await latestRecord(deps.blobs, prefix, 'database-cutover');
  const current = (await deps.flags.get('database/active')).value;
  if (!record) {
    return {
      changeId: null,
      source: 'defaults' as const,
      restoreTo: db.source.connection,
      restoreMaintenance: 'off',
      restoreMaintenanceOn: false,
      current,
      taskDefinition: null,
    };
  }
  if (record.procedure !== 'database-cutover') {
    throw new ConfigurationError(
      `Change ${record.changeId} is a ${record.procedure}, not a database cutover`,
    );
  }
  const restoreTo = record.previous['database/active']?.value ?? db.source.connection;
  const switchedTo = record.target['database/active'];
  if (!input.emergency && current !== restoreTo && current !== switchedTo) {
    throw new FlagDriftError(
      `database/active is "${current}"; change ${record.changeId} switched "${restoreTo}" to "${switchedTo}". Rerun with emergency=true to override.`,
    );
  }
  const restoreMaintenance = record.previous['maintenance-mode']?.value ?? 'off';
  return {
    changeId: record.changeId,
    source: 'change-record' as const,
    restoreTo,
    restoreMaintenance,
    restoreMaintenanceOn: restoreMaintenance === 'on',
    current,
    taskDefinition: record.services.api.taskDefinition,
  };
}
