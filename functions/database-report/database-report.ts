import { z } from 'zod';
import { checkpointKey, readCheckpoint, summarize } from '../migrate-vectors/checkpoint';
import { cutoverPrefix, databaseConfigOf } from '../shared/database-config';
import { defineStep } from '../shared/step';

const Failure = z
  .looseObject({ Error: z.string().optional(), Cause: z.string().optional() })
  .nullish()
  .transform((f) => (f ? { error: f.Error ?? 'unknown', cause: f.Cause ?? '' } : null));

const Input = z.strictObject({
  changeId: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/),
  executionId: z.string().min(1),
  /** How the cutover ended. */
  outcome: z.enum(['succeeded', 'rolled-back', 'rollback-failed']),
  reason: z.string(),
  /** Seed 002's sign-off "Lead". */
  lead: z.string(),
  source: z.string(),
  target: z.string(),
  /** The error that started the rollback ($.failure of the state machine), if any. */
  failure: Failure,
  /** The nested rollback's execution, if one ran. */
  rollbackExecution: z.string().nullish(),
  backups: z.array(z.looseObject({ backupId: z.string(), sha256: z.string() })).nullish(),
});

const ORDER = [
  'gate-mapping',
  'gate-migration',
  'gate-counts',
  'gate-payloads',
  'gate-recall',
  'gate-consistency',
];

/**
 * The cutover's report and seed 002's sign-off record, in the backup bucket next to the evidence:
 * `<prefix>/<env>/<changeId>/report.json`, `report.md` and `sign-off.json`. Every gate, the
 * connection check and each round of smoke tests wrote its evidence before its verdict; this
 * step gathers them, so a rolled-back cutover's report shows exactly which check failed and why.
 */
export const databaseReport = defineStep({
  name: 'database-report',
  input: Input,
  async run(input, { config, blobs, clock, log }) {
    const db = databaseConfigOf(config);
    const prefix = cutoverPrefix(db, config.environment, input.changeId);
    const keys = (await blobs.list(`${prefix}/evidence/`)).filter((k) => k.endsWith('.json')).sort();
    const evidence: Record<string, Record<string, unknown>> = {};
    for (const key of keys) {
      const body = await blobs.get(key);
      if (!body) continue;
      try {
        evidence[key.slice(key.lastIndexOf('/') + 1, -'.json'.length)] = JSON.parse(
          new TextDecoder().decode(body),
        );
      } catch {
        evidence[key] = { unreadable: true };
      }
    }
    const checkpoint = await readCheckpoint(blobs, checkpointKey(db, config.environment, input.changeId));
    const migration = checkpoint ? summarize(checkpoint) : null;
    const now = clock.now();
    const status = input.outcome === 'succeeded' ? 'SUCCESS' : 'ROLLBACK';
    const gates = Object.entries(evidence)
      .filter(([name]) => name.startsWith('gate-'))
      .sort(([a], [b]) => ORDER.indexOf(a) - ORDER.indexOf(b))
      .map(([name, e]) => ({
        gate: name.slice(5),
        passed: e.passed === true,
        summary: String(e.summary ?? ''),
        evidence: e.evidence,
      }));
    const checks = Object.entries(evidence)
      .filter(([name]) => name.startsWith('smoke-') || name.startsWith('connection-'))
      .map(([name, e]) => ({ name, passed: e.passed === true, detail: e }));
    const issues = input.failure ? `${input.failure.error}: ${input.failure.cause}` : 'none';
    const notes =
      input.outcome === 'succeeded'
        ? `Backend switched from ${input.source} to ${input.target}; every gate and smoke test passed; monitoring window of ${db.monitoringWindowSeconds} s completed without a rollback.`
        : input.outcome === 'rolled-back'
          ? `Rolled back to ${input.source} and verified (health and a vector search on the old store). The ${input.target} database was left intact for investigation.`
          : `The rollback could not verify: maintenance mode is ON and the lock is held for an operator. The ${input.target} database was left intact.`;
    const signOff = {
      date: now.toISOString().slice(0, 10),
      time: now.toISOString().slice(11, 19),
      lead: input.lead,
      status,
      issuesEncountered: issues,
      postCutoverNotes: notes,
    };
    const report = {
      schemaVersion: 1,
      changeId: input.changeId,
      environment: config.environment,
      executionId: input.executionId,
      reason: input.reason,
      outcome: input.outcome,
      source: { connection: input.source, qdrant: { collection: db.source.qdrant.collection } },
      target: { connection: input.target, table: db.target.table },
      backups: input.backups ?? [],
      migration,
      gates,
      checks,
      rollbackExecution: input.rollbackExecution ?? null,
      signOff,
      writtenAt: now.toISOString(),
    };
    const reportKey = `${prefix}/report.json`;
    const markdownKey = `${prefix}/report.md`;
    const signOffKey = `${prefix}/sign-off.json`;
    await blobs.put(reportKey, `${JSON.stringify(report, null, 2)}\n`, 'application/json');
    await blobs.put(markdownKey, render(report), 'text/markdown; charset=utf-8');
    await blobs.put(signOffKey, `${JSON.stringify(signOff, null, 2)}\n`, 'application/json');
    log.info('cutover report written', { changeId: input.changeId, outcome: input.outcome, reportKey });
    return {
      reportKey,
      markdownKey,
      signOffKey,
      status,
      gates: gates.map((g) => ({ gate: g.gate, passed: g.passed })),
    };
  },
});

type Report = {
  changeId: string;
  environment: string;
  reason: string;
  outcome: string;
  source: { connection: string; qdrant: { collection: string } };
  target: { connection: string; table: string };
  backups: { backupId: string; sha256: string }[];
  migration: ReturnType<typeof summarize> | null;
  gates: { gate: string; passed: boolean; summary: string }[];
  checks: { name: string; passed: boolean; detail: Record<string, unknown> }[];
  rollbackExecution: string | null;
  signOff: Record<string, string>;
};

function render(r: Report): string {
  const lines = [
    `# Database cutover ${r.changeId} (${r.environment}): ${r.signOff.status}`,
    '',
    `Reason: ${r.reason}`,
    '',
    `Qdrant collection \`${r.source.qdrant.collection}\` -> \`${r.target.table}\` on connection \`${r.target.connection}\` (from \`${r.source.connection}\`).`,
    '',
    '## Backups',
    '',
    ...(r.backups.length
      ? r.backups.map((b) => `- ${b.backupId} sha256 ${b.sha256}`)
      : ['- none configured (database.backups)']),
    '',
    '## Migration',
    '',
  ];
  if (r.migration) {
    const m = r.migration;
    lines.push(
      `| read | succeeded | failed | skipped | rows written | success rate | duration | pages | invocations |`,
      `|---|---|---|---|---|---|---|---|---|`,
      `| ${m.counts.total} | ${m.counts.succeeded} | ${m.counts.failed} | ${m.counts.skipped} | ${m.counts.written} | ${(m.successRate * 100).toFixed(2)} % | ${m.durationSeconds.toFixed(1)} s | ${m.pages} | ${m.invocations} |`,
      '',
      `Failed by reason: ${JSON.stringify(m.failures)}; skipped by reason: ${JSON.stringify(m.skips)}.`,
      '',
    );
  } else lines.push('Not started.', '');
  lines.push('## Gates', '', '| gate | result | evidence |', '|---|---|---|');
  for (const g of r.gates)
    lines.push(`| ${g.gate} | ${g.passed ? 'PASS' : 'FAIL'} | ${g.summary.replace(/\|/g, '/')} |`);
  lines.push('', '## Connection and smoke tests', '');
  for (const c of r.checks) {
    const checks = (c.detail.checks as { name: string; passed: boolean; detail: string }[] | undefined) ?? [];
    lines.push(
      `- **${c.name}**: ${c.passed ? 'PASS' : 'FAIL'}${c.detail.summary ? ` (${String(c.detail.summary)})` : ''}`,
    );
    for (const x of checks) lines.push(`  - ${x.name}: ${x.passed ? 'pass' : 'FAIL'}, ${x.detail}`);
  }
  if (r.rollbackExecution) lines.push('', `Rollback execution: ${r.rollbackExecution}`);
  lines.push(
    '',
    '## Sign-off',
    '',
    '```',
    `Date: ${r.signOff.date}`,
    `Time: ${r.signOff.time} UTC`,
    `Lead: ${r.signOff.lead}`,
    `Status: [${r.signOff.status === 'SUCCESS' ? 'x' : ' '}] SUCCESS [${r.signOff.status === 'ROLLBACK' ? 'x' : ' '}] ROLLBACK`,
    '',
    `Issues encountered: ${r.signOff.issuesEncountered}`,
    '',
    `Post-cutover notes: ${r.signOff.postCutoverNotes}`,
    '```',
    '',
  );
  return lines.join('\n');
}
