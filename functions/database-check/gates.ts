import type { Checkpoint } from '../migrate-vectors/checkpoint';
import { classify, selectVector } from '../migrate-vectors/pipeline';
import type { DatabaseRuntimeConfig } from '../shared/database-config';
import {
  chooseVector,
  DISTANCE_MAP,
  pointIdOf,
  pointKey,
  quoteTable,
  type SqlDatabase,
  type VectorSource,
  vectorLiteral,
} from '../shared/vector-stores';

/** A gate's verdict and the evidence it rests on (what the report shows). */
export interface GateResult {
  readonly gate: string;
  readonly passed: boolean;
  readonly summary: string;
  readonly evidence: Record<string, unknown>;
}

type Target = DatabaseRuntimeConfig['target'];

/**
 * Collection dimension and distance vs the target column and its index (seed 002: "dimension and
 * distance mapped"), read from the collection's config: which vector is migrated (the unnamed one,
 * or the named one `vectorName` gives), and refused when none can be (sparse vectors, named vectors
 * without a name configured, a multivector).
 */
export async function mappingGate(
  source: VectorSource,
  db: SqlDatabase,
  target: Target,
  vectorName: string | undefined,
): Promise<GateResult> {
  const info = await source.collection();
  const choice = chooseVector(info, vectorName);
  const chosen = choice.vector;
  const table = target.table;
  const { rows: columns } = await db.query<{ type: string | null }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
     WHERE a.attrelid = to_regclass($1) AND a.attname = 'embedding' AND NOT a.attisdropped`,
    [table],
  );
  const dimension = Number(/^vector\((\d+)\)$/.exec(columns[0]?.type ?? '')?.[1] ?? Number.NaN);
  const { rows: indexes } = await db.query<{ name: string; method: string; opclass: string }>(
    `SELECT i.relname AS name, am.amname AS method, opc.opcname AS opclass
     FROM pg_index x
     JOIN pg_class i ON i.oid = x.indexrelid
     JOIN pg_am am ON am.oid = i.relam
     JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0] AND a.attname = 'embedding'
     JOIN pg_opclass opc ON opc.oid = x.indclass[0]
     WHERE x.indrelid = to_regclass($1)`,
    [table],
  );
  const expected = chosen ? DISTANCE_MAP[chosen.distance] : undefined;
  const vectorIndexes = indexes.filter((i) => i.method === 'hnsw' || i.method === 'ivfflat');
  const problems: string[] = [...choice.problems];
  if (!Number.isFinite(dimension)) problems.push(`${table} has no vector(N) column "embedding"`);
  else if (chosen && chosen.size !== dimension)
    problems.push(`dimension differs: Qdrant ${chosen.size}, ${table}.embedding vector(${dimension})`);
  if (chosen && !expected) problems.push(`Qdrant distance ${chosen.distance} has no pgvector equivalent`);
  if (expected && vectorIndexes.length && !vectorIndexes.some((i) => i.opclass === expected.opclass)) {
    problems.push(
      `distance differs: Qdrant ${chosen?.distance} needs ${expected.opclass}, the index uses ${vectorIndexes.map((i) => i.opclass).join(', ')}`,
    );
  }
  const vectorLabel = chosen?.name ? ` vector "${chosen.name}"` : '';
  return {
    gate: 'mapping',
    passed: problems.length === 0,
    summary: problems.length
      ? problems.join('; ')
      : `Qdrant ${chosen?.size}-d ${chosen?.distance}${vectorLabel} -> ${table}.embedding vector(${dimension}), operator ${expected?.operator}${
          vectorIndexes.length
            ? `, index ${vectorIndexes.map((i) => `${i.name} (${i.method} ${i.opclass})`).join(', ')}`
            : ', no ANN index (exact search)'
        }`,
    evidence: {
      qdrant: {
        vector: chosen ? chosen.name : null,
        size: chosen?.size ?? null,
        distance: chosen?.distance ?? null,
        vectors: info.vectors,
        sparseVectors: info.sparseVectors,
        pointsCount: info.pointsCount,
      },
      target: { table, dimension: Number.isFinite(dimension) ? dimension : null, indexes },
      expected: expected ?? null,
    },
  };
}

/** Seed 002 2a: success rate >= the threshold; the duration recorded against its target. */
export function migrationGate(cp: Checkpoint | undefined, gates: DatabaseRuntimeConfig['gates']): GateResult {
  if (!cp?.done) {
    return {
      gate: 'migration',
      passed: false,
      summary: cp ? `the migration has not finished (${cp.pages} pages so far)` : 'no migration checkpoint',
      evidence: { checkpoint: cp ?? null },
    };
  }
  const considered = cp.counts.total - cp.counts.skipped;
  const rate = considered === 0 ? 1 : cp.counts.succeeded / considered;
  const duration = (Date.parse(cp.finishedAt ?? cp.updatedAt) - Date.parse(cp.startedAt)) / 1000;
  const passed = rate >= gates.minSuccessRate;
  return {
    gate: 'migration',
    passed,
    summary: `${cp.counts.succeeded}/${considered} vectors migrated (${(rate * 100).toFixed(2)} %, need ${(gates.minSuccessRate * 100).toFixed(2)} %), ${cp.counts.failed} failed, ${cp.counts.skipped} skipped, ${duration.toFixed(1)} s (target ${gates.targetMigrationSeconds} s${duration <= gates.targetMigrationSeconds ? '' : ', EXCEEDED'})`,
    evidence: {
      counts: cp.counts,
      successRate: rate,
      minSuccessRate: gates.minSuccessRate,
      failures: cp.failures,
      skips: cp.skips,
      samples: cp.samples,
      durationSeconds: duration,
      targetSeconds: gates.targetMigrationSeconds,
      withinTarget: duration <= gates.targetMigrationSeconds,
      activeSeconds: cp.activeSeconds,
      pages: cp.pages,
      invocations: cp.invocations,
      pointsPerSecond: cp.activeSeconds > 0 ? cp.counts.total / cp.activeSeconds : null,
    },
  };
}

/** Qdrant's point count vs rows with an embedding: every point accounted for, none twice. */
export async function countsGate(
  source: VectorSource,
  db: SqlDatabase,
  cp: Checkpoint | undefined,
  table: string,
): Promise<GateResult> {
  const qdrantCount = await source.count();
  const { rows } = await db.query<{ with_vectors: string; distinct_ids: string; total: string }>(
    `SELECT count(*) AS total,
            count(*) FILTER (WHERE embedding IS NOT NULL) AS with_vectors,
            count(DISTINCT vector_id) FILTER (WHERE embedding IS NOT NULL) AS distinct_ids
     FROM ${quoteTable(table)}`,
  );
  const withVectors = Number(rows[0]?.with_vectors ?? 0);
  const distinct = Number(rows[0]?.distinct_ids ?? 0);
  const failed = cp?.counts.failed ?? 0;
  const skipped = cp?.counts.skipped ?? 0;
  const expected = qdrantCount - failed - skipped;
  const problems: string[] = [];
  if (cp && cp.counts.total !== qdrantCount)
    problems.push(`the migration read ${cp.counts.total} points, Qdrant counts ${qdrantCount}`);
  if (withVectors !== expected)
    problems.push(
      `${withVectors} rows with an embedding, expected ${expected} (${qdrantCount} points - ${failed} failed - ${skipped} skipped)`,
    );
  if (distinct !== withVectors) problems.push(`${withVectors - distinct} duplicate vector ids`);
  return {
    gate: 'counts',
    passed: problems.length === 0,
    summary: problems.length
      ? problems.join('; ')
      : `${qdrantCount} Qdrant points = ${withVectors} rows with an embedding + ${failed} failed + ${skipped} skipped`,
    evidence: {
      qdrantCount,
      rowsWithEmbedding: withVectors,
      distinctVectorIds: distinct,
      totalRows: Number(rows[0]?.total ?? 0),
      failed,
      skipped,
      expected,
    },
  };
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function parseVector(text: string): number[] {
  return text
    .replace(/^\[|\]$/g, '')
    .split(',')
    .map(Number);
}

/** float4 in pgvector vs float64 in Qdrant: equal within float4 precision. */
function vectorsEqual(a: readonly number[], b: readonly number[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => Math.abs(x - (b[i] as number)) <= 1e-6 * Math.max(1, Math.abs(x)))
  );
}

/** Payload samples equal, both ways: sampled target rows against Qdrant, and Qdrant's first page against the target. */
export async function payloadsGate(
  source: VectorSource,
  db: SqlDatabase,
  target: Target,
  samples: number,
  dimension: number,
  vectorName: string | undefined,
): Promise<GateResult> {
  const t = quoteTable(target.table);
  const { rows } = await db.query<{ vector_id: string; payload: unknown; embedding: string }>(
    `SELECT vector_id, payload, embedding::text AS embedding FROM ${t}
     WHERE embedding IS NOT NULL AND vector_id IS NOT NULL ORDER BY md5(vector_id) LIMIT $1`,
    [samples],
  );
  const fromTarget = new Map(rows.map((r) => [r.vector_id, r]));
  const retrieved = await source.retrieve(rows.map((r) => pointIdOf(r.vector_id)));
  const mismatches: { id: string; field: string }[] = [];
  const found = new Set<string>();
  for (const p of retrieved) {
    const key = pointKey(p.id);
    found.add(key);
    const row = fromTarget.get(key);
    if (!row) continue;
    const selected = selectVector(p.vector, vectorName);
    if (canonical(p.payload ?? {}) !== canonical(row.payload)) mismatches.push({ id: key, field: 'payload' });
    else if (
      !('vector' in selected) ||
      !vectorsEqual(selected.vector as number[], parseVector(row.embedding))
    )
      mismatches.push({ id: key, field: 'vector' });
  }
  for (const key of fromTarget.keys())
    if (!found.has(key)) mismatches.push({ id: key, field: 'missing in Qdrant' });

  // The other way: the valid points of Qdrant's first page must be in the target, equal.
  const page = await source.scroll(null, samples);
  const valid = classify(page.points, dimension, target.orgPayloadKey, vectorName).rows;
  const { rows: back } = await db.query<{ vector_id: string; payload: unknown }>(
    `SELECT vector_id, payload FROM ${t} WHERE vector_id = ANY($1::text[])`,
    [valid.map((r) => r.vectorId)],
  );
  const backMap = new Map(back.map((r) => [r.vector_id, r.payload]));
  for (const r of valid) {
    if (!backMap.has(r.vectorId)) mismatches.push({ id: r.vectorId, field: 'missing in target' });
    else if (canonical(JSON.parse(r.payload)) !== canonical(backMap.get(r.vectorId)))
      mismatches.push({ id: r.vectorId, field: 'payload' });
  }
  const compared = rows.length + valid.length;
  return {
    gate: 'payloads',
    passed: mismatches.length === 0 && rows.length > 0,
    summary:
      rows.length === 0
        ? 'no rows with an embedding to sample'
        : mismatches.length
          ? `${mismatches.length} of ${compared} sampled points differ (first: ${mismatches
              .slice(0, 3)
              .map((m) => `${m.id} ${m.field}`)
              .join(', ')})`
          : `${compared} sampled points equal (payload and vector): ${rows.length} from the target, ${valid.length} from Qdrant's first page`,
    evidence: {
      sampledFromTarget: rows.length,
      sampledFromQdrant: valid.length,
      mismatches: mismatches.slice(0, 20),
    },
  };
}

/**
 * Search quality: for sample query vectors, recall@10 of pgvector against Qdrant's own exact
 * results (`params.exact`: a full scan, not Qdrant's approximate HNSW index).
 * Qdrant's truth is its top 10 among the points the target holds: points the migration refused
 * are counted (and listed) by the migration gate, and their absence by the counts gate.
 */
export async function recallGate(
  source: VectorSource,
  db: SqlDatabase,
  target: Target,
  distance: string,
  gates: DatabaseRuntimeConfig['gates'],
): Promise<GateResult> {
  const k = 10;
  const t = quoteTable(target.table);
  const op = DISTANCE_MAP[distance]?.operator;
  if (!op)
    return { gate: 'recall', passed: false, summary: `no pgvector operator for ${distance}`, evidence: {} };
  const { rows: queries } = await db.query<{ vector_id: string; embedding: string }>(
    `SELECT vector_id, embedding::text AS embedding FROM ${t}
     WHERE embedding IS NOT NULL ORDER BY md5('q' || vector_id) LIMIT $1`,
    [gates.recallQueries],
  );
  const perQuery: { query: string; recall: number; truth: number }[] = [];
  for (const q of queries) {
    const vector = parseVector(q.embedding);
    const hits = await source.search(vector, k * 2, { exact: true });
    const keys = hits.map(pointKey);
    const { rows: present } = await db.query<{ vector_id: string }>(
      `SELECT vector_id FROM ${t} WHERE embedding IS NOT NULL AND vector_id = ANY($1::text[])`,
      [keys],
    );
    const presentSet = new Set(present.map((r) => r.vector_id));
    const truth = keys.filter((key) => presentSet.has(key)).slice(0, k);
    const { rows: found } = await db.query<{ vector_id: string }>(
      `SELECT vector_id FROM ${t} WHERE embedding IS NOT NULL ORDER BY embedding ${op} $1::vector LIMIT ${k}`,
      [vectorLiteral(vector)],
    );
    const got = new Set(found.map((r) => r.vector_id));
    const hit = truth.filter((key) => got.has(key)).length;
    perQuery.push({ query: q.vector_id, recall: truth.length ? hit / truth.length : 1, truth: truth.length });
  }
  const mean = perQuery.length ? perQuery.reduce((s, q) => s + q.recall, 0) / perQuery.length : 0;
  const min = perQuery.length ? Math.min(...perQuery.map((q) => q.recall)) : 0;
  const passed = perQuery.length > 0 && mean >= gates.recallTarget && min >= gates.recallFloor;
  return {
    gate: 'recall',
    passed,
    summary: perQuery.length
      ? `recall@${k} mean ${mean.toFixed(3)} (target ${gates.recallTarget}), worst query ${min.toFixed(3)} (floor ${gates.recallFloor}) over ${perQuery.length} queries`
      : 'no query vectors: the target holds no embeddings',
    evidence: {
      k,
      operator: op,
      queries: perQuery.length,
      meanRecall: mean,
      minRecall: min,
      target: gates.recallTarget,
      floor: gates.recallFloor,
      worst: [...perQuery].sort((a, b) => a.recall - b.recall).slice(0, 5),
    },
  };
}

/**
 * Row level security: a session of organisation A, as the application's role and with the
 * organisation set transaction-locally (what the transaction pooler keeps), sees all of A's rows
 * and none of B's. Run in a transaction that is always rolled back.
 */
export async function rlsIsolation(db: SqlDatabase, target: Target): Promise<GateResult> {
  const t = quoteTable(target.table);
  const { rows: orgs } = await db.query<{ org_id: string; n: string }>(
    `SELECT org_id, count(*) AS n FROM ${t} GROUP BY org_id ORDER BY count(*) DESC, org_id LIMIT 2`,
  );
  const { rows: rls } = await db.query<{ enabled: boolean | null; forced: boolean | null }>(
    `SELECT relrowsecurity AS enabled, relforcerowsecurity AS forced FROM pg_class WHERE oid = to_regclass($1)`,
    [target.table],
  );
  const [a, b] = orgs;
  if (!a || !b) {
    return {
      gate: 'rls',
      passed: false,
      summary: 'fewer than two organisations in the table: isolation cannot be shown',
      evidence: { orgs, rlsEnabled: rls[0]?.enabled ?? null },
    };
  }
  const seen = await db.transaction(
    async (s) => {
      await s.query(`SET LOCAL ROLE "${target.appRole}"`);
      await s.query('SELECT set_config($1, $2, true)', [target.orgSetting, a.org_id]);
      const { rows } = await s.query<{ own: string; other: string; b: string }>(
        `SELECT count(*) FILTER (WHERE org_id = $1) AS own,
                count(*) FILTER (WHERE org_id <> $1) AS other,
                count(*) FILTER (WHERE org_id = $2) AS b
         FROM ${t}`,
        [a.org_id, b.org_id],
      );
      return rows[0];
    },
    { rollback: true },
  );
  const own = Number(seen?.own ?? 0);
  const other = Number(seen?.other ?? 0);
  const passed = rls[0]?.enabled === true && own === Number(a.n) && other === 0;
  return {
    gate: 'rls',
    passed,
    summary: passed
      ? `a session for ${a.org_id} (role ${target.appRole}) sees its ${own} rows and none of ${b.org_id}'s ${b.n}`
      : `a session for ${a.org_id} (role ${target.appRole}) sees ${own} of its ${a.n} rows and ${other} rows of other organisations (${Number(seen?.b ?? 0)} of ${b.org_id}); row level security ${rls[0]?.enabled ? 'on' : 'OFF'}`,
    evidence: {
      orgA: a.org_id,
      orgB: b.org_id,
      rowsA: Number(a.n),
      rowsB: Number(b.n),
      visibleOwn: own,
      visibleOther: other,
      visibleOfB: Number(seen?.b ?? 0),
      rlsEnabled: rls[0]?.enabled ?? null,
      role: target.appRole,
      setting: target.orgSetting,
    },
  };
}

/** Seed 002 2b's consistency SQL, as written there, plus the RLS isolation check. */
export async function consistencyGate(db: SqlDatabase, target: Target): Promise<GateResult> {
  const t = quoteTable(target.table);
  const { rows: vectors } = await db.query<Record<string, string>>(
    `SELECT COUNT(*) AS total_fragments, COUNT(embedding) AS with_vectors, COUNT(vector_id) AS with_qdrant_id,
            COUNT(embedding) - COUNT(vector_id) AS vectors_only
     FROM ${t}`,
  );
  let problematic: number | null = null;
  try {
    const { rows } = await db.query<{ problematic_attachments: string }>(
      `SELECT COUNT(*) AS problematic_attachments FROM ${quoteTable(target.attachmentsTable)}
       WHERE file_data IS NULL AND storage_path IS NULL`,
    );
    problematic = Number(rows[0]?.problematic_attachments ?? 0);
  } catch (err) {
    if ((err as { code?: string }).code !== '42P01') throw err; // undefined_table: reported, not thrown
  }
  const { rows: orgRows } = await db.query<{ org_count: string }>(
    `SELECT COUNT(DISTINCT org_id) AS org_count FROM ${t}`,
  );
  const rls = await rlsIsolation(db, target);
  const v = vectors[0] ?? {};
  const vectorsOnly = Number(v.vectors_only ?? 0);
  const problems: string[] = [];
  if (vectorsOnly > 0) problems.push(`${vectorsOnly} fragments have an embedding but no Qdrant id`);
  if (problematic === null) problems.push(`table ${target.attachmentsTable} does not exist`);
  else if (problematic > 0)
    problems.push(`${problematic} attachments have neither file data nor a storage path`);
  if (!rls.passed) problems.push(`organisations not isolated: ${rls.summary}`);
  return {
    gate: 'consistency',
    passed: problems.length === 0,
    summary: problems.length
      ? problems.join('; ')
      : `fragments ${v.total_fragments}, with vectors ${v.with_vectors}, vectors only 0; problematic attachments 0; ${orgRows[0]?.org_count} organisations isolated (${rls.summary})`,
    evidence: {
      fragments: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, Number(x)])),
      problematicAttachments: problematic,
      orgCount: Number(orgRows[0]?.org_count ?? 0),
      rls: rls.evidence,
    },
  };
}
