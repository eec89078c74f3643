import { z } from 'zod';
import { AutomationPausedError, FlagDriftError, InvalidInputError } from '../shared/errors';
import { flagParameterName } from '../shared/flags';
import { journalOwn } from '../shared/journal';
import {
  MEMORY_CONTEXT_FLAG,
  MemoryContextFlag,
  parseMemoryContextFlag,
  serializeMemoryContextFlag,
} from '../shared/memory-context';
import { ApprovalPolicy, GatePolicy, PhaseSpec } from '../shared/rollout-plan';
import type { Deps } from '../shared/step';
import { defineStep } from '../shared/step';
import {
  type LogEvent,
  type PhaseRecord,
  type RolloutLog,
  RolloutStatus,
  readLog,
  requireLog,
  withEvent,
  writeLog,
} from './log';

const RolloutId = z.string().regex(/^[A-Za-z0-9_-]{1,80}$/);
const Text = z.string().max(4_000);

const Open = z.strictObject({
  action: z.literal('open'),
  rolloutId: RolloutId,
  executionId: z.string().min(1),
  reason: z.string(),
  requestedBy: z.string(),
  dryRun: z.boolean(),
  phases: z
    .array(PhaseSpec.extend({ index: z.number().int().min(0), evaluations: z.number().int().min(1) }))
    .min(1),
  gate: GatePolicy,
  approval: ApprovalPolicy,
});
const StartPhase = z.strictObject({
  action: z.literal('start-phase'),
  rolloutId: RolloutId,
  index: z.number().int().min(0),
  /** The flag version the rollout last saw (or wrote): anything else means someone else changed it. */
  expectVersion: z.number().int().min(1),
  dryRun: z.boolean(),
  /** The output an operator sent with `switchback approve`, when the phase waited for one. */
  approval: z.looseObject({ approvedBy: z.string().max(128).optional(), comment: Text.optional() }).nullish(),
});
const CompletePhase = z.strictObject({
  action: z.literal('complete-phase'),
  rolloutId: RolloutId,
  index: z.number().int().min(0),
});
const RecordEvent = z.strictObject({
  action: z.literal('record'),
  rolloutId: RolloutId,
  /** `disabled`: an emergency disable turned the feature off; the journal records the rollout as rolled back. */
  type: z.enum(['decision', 'approval-requested', 'disabled']),
  phase: z.string().max(32).nullish(),
  message: Text,
});
const Close = z.strictObject({
  action: z.literal('close'),
  rolloutId: RolloutId,
  status: RolloutStatus.exclude(['running']),
  message: Text,
});
const Input = z.discriminatedUnion('action', [Open, StartPhase, CompletePhase, RecordEvent, Close]);

/**
 * The rollout's phase transitions, each one written to the rollout log:
 * - `open` reads the flag as it is (a malformed value is refused with InvalidFlagValueError, never
 *   read as "on"), and writes the log with every phase planned;
 * - `start-phase` sets the phase's flag value (unless dry run), refusing with FlagDriftError when
 *   the flag changed since the rollout last wrote it (an emergency disable): never overwrite that,
 *   and with AutomationPausedError, writing nothing, while the kill switch (`automation/paused`) is on;
 * - `complete-phase`, `record` and `close` log passes, decisions and the outcome.
 * Every action is idempotent: a retried call finds its own earlier write and returns it.
 */
export const rollout = defineStep({
  name: 'rollout',
  input: Input,
  async run(input, deps) {
    switch (input.action) {
      case 'open':
        return open(input, deps);
      case 'start-phase':
        return startPhase(input, deps);
      case 'complete-phase':
        return completePhase(input, deps);
      case 'record':
        return record(input, deps);
      case 'close':
        return close(input, deps);
    }
  },
});

async function open(input: z.infer<typeof Open>, { blobs, flags, config, clock, log }: Deps) {
  const existing = await readLog(blobs, config.environment, input.rolloutId);
  if (existing) {
    log.info('rollout log already open', { rolloutId: input.rolloutId });
    return { rolloutId: existing.rolloutId, flagVersion: existing.flagBefore.version };
  }
  const current = await flags.get(MEMORY_CONTEXT_FLAG);
  const before = parseMemoryContextFlag(current.value);
  const now = clock.now();
  let planned = now.getTime();
  const phases: PhaseRecord[] = input.phases.map((p) => {
    const plannedAt = new Date(planned).toISOString();
    planned += p.bakeSeconds * 1000;
    return {
      index: p.index,
      name: p.name,
      title: p.title,
      flag: p.flag,
      bakeSeconds: p.bakeSeconds,
      evaluations: p.evaluations,
      plannedAt,
      startedAt: null,
      endedAt: null,
      status: 'pending',
      flagVersion: null,
      gate: { evaluated: 0, failed: 0, notJudged: 0 },
      notes: '',
    };
  });
  const at = now.toISOString();
  const doc: RolloutLog = {
    schemaVersion: 1,
    rolloutId: input.rolloutId,
    environment: config.environment,
    feature: 'memory-context',
    flagParameter: flagParameterName(config.flagPrefix, MEMORY_CONTEXT_FLAG),
    executionId: input.executionId,
    reason: input.reason,
    requestedBy: input.requestedBy,
    dryRun: input.dryRun,
    openedAt: at,
    closedAt: null,
    status: 'running',
    flagBefore: { value: before, version: current.version },
    gate: input.gate,
    approval: input.approval,
    phases,
    events: [
      {
        at,
        type: 'opened',
        phase: null,
        message: `${input.dryRun ? 'Dry run' : 'Rollout'} of ${phases.length} phases (${phases.map((p) => p.name).join(', ')}) requested by ${input.requestedBy}: ${input.reason}`,
      },
    ],
    evaluations: [],
  };
  await writeLog(blobs, doc);
  log.info('rollout log opened', { rolloutId: input.rolloutId, flagVersion: current.version });
  return { rolloutId: input.rolloutId, flagVersion: current.version };
}

function phaseOf(doc: RolloutLog, index: number): PhaseRecord {
  const phase = doc.phases[index];
  if (!phase) throw new InvalidInputError(`Rollout ${doc.rolloutId} has no phase #${index}`);
  return phase;
}

function withPhase(doc: RolloutLog, phase: PhaseRecord): RolloutLog {
  return { ...doc, phases: doc.phases.map((p) => (p.index === phase.index ? phase : p)) };
}

async function startPhase(input: z.infer<typeof StartPhase>, { blobs, flags, config, clock, log }: Deps) {
  const doc = await requireLog(blobs, config.environment, input.rolloutId);
  const phase = phaseOf(doc, input.index);
  const target = serializeMemoryContextFlag(MemoryContextFlag.parse(phase.flag));
  const result = (flagVersion: number) => ({
    index: phase.index,
    name: phase.name,
    flagVersion,
    dryRun: input.dryRun,
  });

  if (input.dryRun) {
    if (phase.status === 'baking') return result(input.expectVersion);
    const at = clock.now().toISOString();
    const next = withEvent(
      withPhase(doc, { ...phase, status: 'baking', startedAt: at }),
      event(at, 'phase-started', phase.name, `Dry run: would set the flag to ${target}; nothing written`),
    );
    await writeLog(blobs, next);
    return result(input.expectVersion);
  }

  const current = await flags.get(MEMORY_CONTEXT_FLAG);
  // A retry of a call that already wrote: the phase is baking on exactly the version it wrote.
  if (phase.status === 'baking' && phase.flagVersion === current.version && current.value === target) {
    return result(current.version);
  }
  // A retry after the write succeeded but the log did not: the flag already holds this phase's value.
  const ownWrite = current.value === target && current.version === input.expectVersion + 1;
  if (current.version !== input.expectVersion && !ownWrite) {
    throw new FlagDriftError(
      `Flag ${MEMORY_CONTEXT_FLAG} changed outside rollout ${doc.rolloutId}: version ${current.version} ("${current.value.slice(0, 200)}"), the rollout last saw version ${input.expectVersion}. Someone else (an emergency disable?) owns it now; the rollout stops without touching it.`,
    );
  }
  let version = current.version;
  if (current.value !== target) {
    // The kill switch stops an in-flight rollout at its next advance: read fresh, never cached.
    const paused = await flags.get('automation/paused');
    if (paused.value === 'true')
      throw new AutomationPausedError(
        `automation/paused is true (the kill switch, version ${paused.version}): rollout ${doc.rolloutId} does not advance to phase ${phase.name}; ${MEMORY_CONTEXT_FLAG} stays at version ${current.version} ("${current.value.slice(0, 200)}").`,
      );
    version = (await flags.put(MEMORY_CONTEXT_FLAG, target)).version;
    log.info('flag set', { flag: MEMORY_CONTEXT_FLAG, phase: phase.name, version });
  }
  const at = clock.now().toISOString();
  const approval = input.approval
    ? [
        event(
          at,
          'approval-granted',
          phase.name,
          `Approved by ${input.approval.approvedBy ?? 'an operator'}${input.approval.comment ? `: ${input.approval.comment}` : ''}`,
        ),
      ]
    : [];
  const next: RolloutLog = {
    ...withPhase(doc, { ...phase, status: 'baking', startedAt: at, flagVersion: version }),
    events: [
      ...doc.events,
      ...approval,
      event(
        at,
        'phase-started',
        phase.name,
        version === current.version
          ? `Flag already ${target} (version ${version})`
          : `Flag set to ${target} (version ${version})`,
      ),
    ],
  };
  await writeLog(blobs, next);
  return result(version);
}

async function completePhase(input: z.infer<typeof CompletePhase>, { blobs, config, clock }: Deps) {
  const doc = await requireLog(blobs, config.environment, input.rolloutId);
  const phase = phaseOf(doc, input.index);
  if (phase.status === 'passed') return { index: phase.index, name: phase.name, status: phase.status };
  const at = clock.now().toISOString();
  const summary = `${phase.gate.evaluated} gate evaluations, ${phase.gate.failed} failed, ${phase.gate.notJudged} not judged`;
  const next = withEvent(
    withPhase(doc, { ...phase, status: 'passed', endedAt: at }),
    event(at, 'phase-passed', phase.name, `Baked ${phase.bakeSeconds} s: ${summary}`),
  );
  await writeLog(blobs, next);
  return { index: phase.index, name: phase.name, status: 'passed' };
}

async function record(input: z.infer<typeof RecordEvent>, deps: Deps) {
  const { blobs, config, clock } = deps;
  const doc = await requireLog(blobs, config.environment, input.rolloutId);
  const at = clock.now().toISOString();
  await writeLog(blobs, withEvent(doc, event(at, input.type, input.phase ?? null, input.message)));
  if (input.type === 'disabled' && !doc.dryRun) await journalRollout(deps, doc, 'rolled-back', at);
  return { recorded: true };
}

/**
 * A rollout as the change journal sees it: completed (a change the router may undo with
 * feature-disable) or rolled back (by its own gates or an emergency disable: nothing to undo).
 */
async function journalRollout(deps: Deps, doc: RolloutLog, status: 'completed' | 'rolled-back', at: string) {
  const flag = await deps.flags.get(MEMORY_CONTEXT_FLAG);
  await journalOwn(deps, {
    at,
    sourceEventId: `${doc.rolloutId}:${status}`,
    kind: 'config',
    subject: 'procedure:feature-rollout',
    actor: doc.requestedBy || null,
    change: {
      type: 'procedure',
      procedure: 'feature-rollout',
      changeId: doc.rolloutId,
      status,
      flags: [{ name: MEMORY_CONTEXT_FLAG, from: null, to: flag.value }],
      taskDefinition: null,
    },
  });
}

/** Phase status for the phase that was baking when the rollout ended this way. */
const CURRENT_PHASE_STATUS: Partial<Record<RolloutStatus, PhaseRecord['status']>> = {
  'rolled-back': 'rolled-back',
  'rollback-failed': 'failed',
  failed: 'failed',
  interrupted: 'interrupted',
};

async function close(input: z.infer<typeof Close>, deps: Deps) {
  const { blobs, config, clock } = deps;
  const doc = await requireLog(blobs, config.environment, input.rolloutId);
  if (doc.status !== 'running') return { rolloutId: doc.rolloutId, status: doc.status };
  const at = clock.now().toISOString();
  const ending = CURRENT_PHASE_STATUS[input.status];
  const phases = doc.phases.map((p) =>
    p.status === 'baking' && ending ? { ...p, status: ending, endedAt: at, notes: input.message } : p,
  );
  const next: RolloutLog = {
    ...doc,
    status: input.status,
    closedAt: at,
    phases,
    events: [...doc.events, event(at, 'closed', null, `${input.status}: ${input.message}`)],
  };
  await writeLog(blobs, next);
  if (!doc.dryRun && (input.status === 'completed' || input.status === 'rolled-back'))
    await journalRollout(deps, next, input.status, at);
  return { rolloutId: doc.rolloutId, status: input.status };
}

function event(at: string, type: LogEvent['type'], phase: string | null, message: string): LogEvent {
  return { at, type, phase, message };
}
