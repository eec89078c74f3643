import { z } from 'zod';
import { parseOrThrow } from '../shared/config';
import { RolloutLogInvalidError, RolloutLogNotFoundError } from '../shared/errors';
import { MemoryContextFlag } from '../shared/memory-context';
import type { BlobStore } from '../shared/ports';
import { ApprovalPolicy, GatePolicy, PhaseName } from '../shared/rollout-plan';

/**
 * The rollout log (seed 003's "Rollout Log" table, and everything behind it): one JSON document
 * per rollout in the backup bucket, rewritten with a Markdown rendering beside it after every
 * phase transition, gate evaluation and decision. The JSON is the record; the Markdown is what
 * a person reads.
 */

/** Key prefix of rollout logs in the backup bucket (the IAM grant is derived from the same function). */
export function rolloutLogPrefix(environment: string): string {
  return `rollouts/${environment}`;
}

export function rolloutLogKey(environment: string, rolloutId: string): string {
  return `${rolloutLogPrefix(environment)}/${rolloutId}.json`;
}

export function rolloutMarkdownKey(environment: string, rolloutId: string): string {
  return `${rolloutLogPrefix(environment)}/${rolloutId}.md`;
}

const Iso = z.iso.datetime({ offset: true });

export const PhaseStatus = z.enum(['pending', 'baking', 'passed', 'rolled-back', 'interrupted', 'failed']);

export const PhaseRecord = z.object({
  index: z.number().int().min(0),
  name: PhaseName,
  title: z.string(),
  flag: MemoryContextFlag,
  bakeSeconds: z.number().int(),
  evaluations: z.number().int(),
  plannedAt: Iso,
  startedAt: Iso.nullable(),
  endedAt: Iso.nullable(),
  status: PhaseStatus,
  /** SSM version of the flag this phase wrote (null in a dry run, or before it started). */
  flagVersion: z.number().int().nullable(),
  gate: z.object({ evaluated: z.number().int(), failed: z.number().int(), notJudged: z.number().int() }),
  notes: z.string(),
});
export type PhaseRecord = z.infer<typeof PhaseRecord>;

export const SignalJudgement = z.object({
  signal: z.string(),
  value: z.number().nullable(),
  limit: z.number().nullable(),
  status: z.enum(['pass', 'fail', 'not-judged']),
  note: z.string(),
});
export type SignalJudgement = z.infer<typeof SignalJudgement>;

export const EvaluationRecord = z.object({
  at: Iso,
  phase: PhaseName,
  evaluation: z.number().int().min(1),
  window: z.object({ start: Iso, end: Iso }),
  verdict: z.enum(['pass', 'fail', 'not-judged']),
  consecutiveFailures: z.number().int().min(0),
  decision: z.enum(['continue', 'phase-complete', 'roll-back', 'would-roll-back', 'interrupted']),
  signals: z.array(SignalJudgement),
  alarmsInAlarm: z.array(z.string()),
});
export type EvaluationRecord = z.infer<typeof EvaluationRecord>;

export const LogEvent = z.object({
  at: Iso,
  type: z.enum([
    'opened',
    'phase-started',
    'phase-passed',
    'approval-requested',
    'approval-granted',
    'decision',
    'disabled',
    'closed',
  ]),
  phase: PhaseName.nullable(),
  message: z.string(),
});
export type LogEvent = z.infer<typeof LogEvent>;

export const RolloutStatus = z.enum([
  'running',
  'completed',
  'rolled-back',
  'interrupted',
  'refused',
  'rollback-failed',
  'failed',
]);
export type RolloutStatus = z.infer<typeof RolloutStatus>;

export const RolloutLog = z.object({
  schemaVersion: z.literal(1),
  rolloutId: z.string(),
  environment: z.string(),
  feature: z.literal('memory-context'),
  flagParameter: z.string(),
  executionId: z.string(),
  reason: z.string(),
  requestedBy: z.string(),
  dryRun: z.boolean(),
  openedAt: Iso,
  closedAt: Iso.nullable(),
  status: RolloutStatus,
  /** The flag as the rollout found it. */
  flagBefore: z.object({ value: MemoryContextFlag, version: z.number().int() }),
  gate: GatePolicy,
  approval: ApprovalPolicy,
  phases: z.array(PhaseRecord),
  events: z.array(LogEvent),
  evaluations: z.array(EvaluationRecord),
});
export type RolloutLog = z.infer<typeof RolloutLog>;

export async function readLog(
  blobs: BlobStore,
  environment: string,
  rolloutId: string,
): Promise<RolloutLog | undefined> {
  const key = rolloutLogKey(environment, rolloutId);
  const body = await blobs.get(key);
  if (!body) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch (err) {
    throw new RolloutLogInvalidError(`Rollout log ${key} is not valid JSON`, { cause: err });
  }
  return parseOrThrow(RolloutLog, json, RolloutLogInvalidError, `rollout log ${key}`);
}

export async function requireLog(
  blobs: BlobStore,
  environment: string,
  rolloutId: string,
): Promise<RolloutLog> {
  const log = await readLog(blobs, environment, rolloutId);
  if (!log) {
    throw new RolloutLogNotFoundError(
      `No rollout log "${rolloutId}" under ${rolloutLogPrefix(environment)}/`,
    );
  }
  return log;
}

/** Writes the JSON record, then its Markdown rendering. */
export async function writeLog(blobs: BlobStore, log: RolloutLog): Promise<void> {
  await blobs.put(
    rolloutLogKey(log.environment, log.rolloutId),
    `${JSON.stringify(log, null, 2)}\n`,
    'application/json',
  );
  await blobs.put(
    rolloutMarkdownKey(log.environment, log.rolloutId),
    renderMarkdown(log),
    'text/markdown; charset=utf-8',
  );
}

const STATUS_WORDS: Record<z.infer<typeof PhaseStatus>, string> = {
  pending: 'Pending',
  baking: 'Baking',
  passed: 'Passed',
  'rolled-back': 'Rolled back',
  interrupted: 'Interrupted',
  failed: 'Failed',
};

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function flagText(flag: MemoryContextFlag): string {
  if (!flag.enabled) return 'off';
  const allow = flag.allowList.length ? `, allow-list ${flag.allowList.join(', ')}` : '';
  return `on for ${flag.percentage}%${allow}`;
}

function value(v: number | null, unit: string): string {
  if (v === null) return 'no data';
  return `${Number.isInteger(v) ? v : v.toFixed(3)}${unit}`;
}

const UNITS: Record<string, string> = {
  requests: '',
  errorRatePercent: ' %',
  p95LatencyMs: ' ms',
  memoryMb: ' MB',
  cpuPercent: ' %',
  p0Alarms: '',
};

/** The Markdown view: seed 003's rollout log table, the decisions, and every gate evaluation. */
export function renderMarkdown(log: RolloutLog): string {
  const g = log.gate;
  const lines: string[] = [
    `# Rollout ${log.rolloutId}: Memory & Context (${log.environment})`,
    '',
    `- Status: **${log.status}**${log.dryRun ? ' (dry run: gates evaluated and logged, nothing changed)' : ''}`,
    `- Reason: ${log.reason} (requested by ${log.requestedBy})`,
    `- Opened: ${log.openedAt}${log.closedAt ? ` · closed: ${log.closedAt}` : ''}`,
    `- Flag \`${log.flagParameter}\` before the rollout: ${flagText(log.flagBefore.value)} (version ${log.flagBefore.version})`,
    `- Gate every ${g.intervalSeconds} s: error rate < ${g.errorRateBelowPercent} %, p95 < ${g.p95LatencyBelowMs} ms, memory < ${g.memoryBelowMb} MB, CPU < ${g.cpuBelowPercent} %${g.failOnP0Alarm ? ', no P0 alarm in ALARM' : ''}; rates judged from ${g.minRequests} requests; missing data: ${g.missingData}; rollback after ${g.tolerance} consecutive failed evaluations`,
    `- Approval between phases: ${log.approval.required ? `required (times out after ${log.approval.timeoutSeconds} s, then rolls back)` : 'not required'}`,
    '',
    '## Rollout Log',
    '',
    '| Phase | Planned Date | Actual Date | Status | Notes |',
    '|-------|-------------|-------------|--------|-------|',
    ...log.phases.map(
      (p) =>
        `| ${cell(p.title)} | ${p.plannedAt} | ${p.startedAt ?? '-'} | ${STATUS_WORDS[p.status]} | ${cell(
          `${flagText(p.flag)}; bake ${p.bakeSeconds} s; ${p.gate.evaluated}/${p.evaluations} evaluations, ${p.gate.failed} failed, ${p.gate.notJudged} not judged${p.notes ? `; ${p.notes}` : ''}`,
        )} |`,
    ),
    '',
    '## Transitions and decisions',
    '',
    ...log.events.map((e) => `- ${e.at} ${e.phase ? `[${e.phase}] ` : ''}${e.type}: ${e.message}`),
    '',
    '## Gate evaluations',
    '',
    '| At | Phase | # | Verdict | Failed in a row | Decision | Signals |',
    '|----|-------|---|---------|-----------------|----------|---------|',
    ...log.evaluations.map(
      (e) =>
        `| ${e.at} | ${e.phase} | ${e.evaluation} | ${e.verdict} | ${e.consecutiveFailures} | ${e.decision} | ${cell(
          e.signals
            .map(
              (s) =>
                // Requests only qualify the rates: shown with their count, never as a verdict.
                `${s.signal} ${value(s.value, UNITS[s.signal] ?? '')}${s.signal === 'requests' ? '' : ` ${s.status}`}${s.note ? ` (${s.note})` : ''}`,
            )
            .join('; '),
        )} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

/** A copy of the log with one more event. */
export function withEvent(log: RolloutLog, event: LogEvent): RolloutLog {
  return { ...log, events: [...log.events, event] };
}
