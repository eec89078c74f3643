import { z } from 'zod';
import { type EvaluationRecord, requireLog, withEvent, writeLog } from '../rollout/log';
import { ConfigurationError, MetricsUnavailableError } from '../shared/errors';
import { MEMORY_CONTEXT_FLAG } from '../shared/memory-context';
import type { GateSample, MetricsSource } from '../shared/ports';
import { GatePolicy, PhaseName } from '../shared/rollout-plan';
import { defineStep } from '../shared/step';
import { judge, nextConsecutive, type Reading, summarize } from './gate';

const Input = z.strictObject({
  rolloutId: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/),
  dryRun: z.boolean(),
  phase: z.strictObject({
    index: z.number().int().min(0),
    name: PhaseName,
    evaluations: z.number().int().min(1),
  }),
  gate: GatePolicy,
  state: z.strictObject({
    evaluation: z.number().int().min(0),
    consecutiveFailures: z.number().int().min(0),
  }),
  /** The flag version the phase wrote; a different one means someone else changed the flag. */
  flagVersion: z.number().int().min(1),
});

export type GateDecision = EvaluationRecord['decision'];

export interface GateResult {
  readonly evaluation: number;
  readonly consecutiveFailures: number;
  readonly verdict: EvaluationRecord['verdict'];
  readonly decision: GateDecision;
  readonly phaseComplete: boolean;
  readonly summary: string;
  /** Each signal against its limit, for whoever follows the execution (CLI, console). */
  readonly signals: readonly SignalBrief[];
}

/** A signal's value against its limit, as the execution history carries it (no notes). */
export interface SignalBrief {
  readonly signal: string;
  readonly value: number | null;
  readonly limit: number | null;
  readonly status: EvaluationRecord['signals'][number]['status'];
}

function brief(signals: EvaluationRecord['signals']): SignalBrief[] {
  return signals.map(({ signal, value, limit, status }) => ({ signal, value, limit, status }));
}

async function read(source: MetricsSource, window: { start: Date; end: Date }): Promise<Reading> {
  let sample: GateSample | null = null;
  let alarms: string[] | null = null;
  const reasons: string[] = [];
  try {
    sample = await source.sample(window);
  } catch (err) {
    if (!(err instanceof MetricsUnavailableError)) throw err;
    reasons.push(err.message);
  }
  try {
    alarms = await source.alarmsInAlarm();
  } catch (err) {
    if (!(err instanceof MetricsUnavailableError)) throw err;
    reasons.push(err.message);
  }
  return { sample, alarmsInAlarm: alarms, unavailable: reasons.length ? reasons.join('; ') : null };
}

/**
 * One gate evaluation at the end of a bake interval: reads the window's metrics and the P0
 * alarms, judges them against the gate (see `./gate`), counts failed evaluations in a row and
 * decides: `continue`, `phase-complete` (the phase baked for all its evaluations), `roll-back`
 * (tolerance reached or a P0 alarm; a dry run logs `would-roll-back` and carries on) or
 * `interrupted` (the flag is no longer the phase's: someone disabled it). The evaluation and any
 * decision are appended to the rollout log before the result is returned.
 */
export const evaluateGate = defineStep({
  name: 'evaluate-gate',
  input: Input,
  async run(input, { blobs, flags, config, clock, log, metricsSource }): Promise<GateResult> {
    if (!metricsSource) throw new ConfigurationError('evaluate-gate was given no metrics source');
    const doc = await requireLog(blobs, config.environment, input.rolloutId);
    const evaluation = input.state.evaluation + 1;
    // A retry after the log was written: answer what was decided then.
    const already = doc.evaluations.find((e) => e.phase === input.phase.name && e.evaluation === evaluation);
    if (already) {
      return {
        evaluation,
        consecutiveFailures: already.consecutiveFailures,
        verdict: already.verdict,
        decision: already.decision,
        phaseComplete: evaluation >= input.phase.evaluations,
        summary: `${already.verdict} (logged at ${already.at})`,
        signals: brief(already.signals),
      };
    }

    const end = clock.now();
    const start = new Date(end.getTime() - input.gate.intervalSeconds * 1000);
    let decision: GateDecision;
    let verdictText: EvaluationRecord['verdict'] = 'not-judged';
    let consecutive = input.state.consecutiveFailures;
    let summary: string;
    let signals: EvaluationRecord['signals'] = [];
    let alarmsInAlarm: string[] = [];

    const current = input.dryRun ? undefined : await flags.get(MEMORY_CONTEXT_FLAG);
    if (current && current.version !== input.flagVersion) {
      decision = 'interrupted';
      summary = `flag ${MEMORY_CONTEXT_FLAG} is at version ${current.version}, not the phase's ${input.flagVersion}: changed outside the rollout`;
    } else {
      const reading = await read(metricsSource, { start, end });
      const verdict = judge(reading, input.gate);
      verdictText = verdict.verdict;
      signals = verdict.signals.map((s) => ({ ...s }));
      alarmsInAlarm = [...(reading.alarmsInAlarm ?? [])];
      consecutive = nextConsecutive(input.state.consecutiveFailures, verdict.verdict);
      const breach = verdict.p0 || consecutive >= input.gate.tolerance;
      summary = summarize(verdict, consecutive, input.gate.tolerance);
      if (breach && !input.dryRun) decision = 'roll-back';
      else if (breach) {
        decision = 'would-roll-back';
        consecutive = 0;
      } else decision = evaluation >= input.phase.evaluations ? 'phase-complete' : 'continue';
    }

    const at = end.toISOString();
    const record: EvaluationRecord = {
      at,
      phase: input.phase.name,
      evaluation,
      window: { start: start.toISOString(), end: at },
      verdict: verdictText,
      consecutiveFailures: consecutive,
      decision,
      signals,
      alarmsInAlarm,
    };
    const phase = doc.phases[input.phase.index];
    let next = {
      ...doc,
      evaluations: [...doc.evaluations, record],
      phases: doc.phases.map((p) =>
        p === phase
          ? {
              ...p,
              gate: {
                evaluated: p.gate.evaluated + 1,
                failed: p.gate.failed + (verdictText === 'fail' ? 1 : 0),
                notJudged: p.gate.notJudged + (verdictText === 'not-judged' ? 1 : 0),
              },
            }
          : p,
      ),
    };
    const decisionText: Partial<Record<GateDecision, string>> = {
      'roll-back': `Gate failed at evaluation ${evaluation}: ${summary}. Rolling back: emergency disable.`,
      'would-roll-back': `Dry run: the gate would have rolled back at evaluation ${evaluation}: ${summary}.`,
      interrupted: `Stopped: ${summary}. The rollout leaves the flag to whoever changed it.`,
    };
    const text = decisionText[decision];
    if (text) next = withEvent(next, { at, type: 'decision', phase: input.phase.name, message: text });
    await writeLog(blobs, next);
    log.info('gate evaluated', { rolloutId: input.rolloutId, phase: input.phase.name, evaluation, decision });

    return {
      evaluation,
      consecutiveFailures: consecutive,
      verdict: verdictText,
      decision,
      phaseComplete:
        decision !== 'roll-back' && decision !== 'interrupted' && evaluation >= input.phase.evaluations,
      summary,
      signals: brief(signals),
    };
  },
});
