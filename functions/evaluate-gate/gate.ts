import type { GateSample } from '../shared/ports';
import type { GatePolicy } from '../shared/rollout-plan';

/**
 * One gate evaluation, as pure logic over what the metrics source answered. Kept apart from the
 * step so every rule (limits, minimum traffic, missing data, tolerance, P0 alarms) is tested
 * directly.
 */

export type SignalStatus = 'pass' | 'fail' | 'not-judged';

export interface Judgement {
  readonly signal: 'requests' | 'errorRatePercent' | 'p95LatencyMs' | 'memoryMb' | 'cpuPercent' | 'p0Alarms';
  readonly value: number | null;
  readonly limit: number | null;
  readonly status: SignalStatus;
  readonly note: string;
}

export interface Reading {
  /** What the source answered; null when it could not answer at all (MetricsUnavailableError). */
  readonly sample: GateSample | null;
  /** Watched P0 alarms in ALARM; null when their state could not be read. */
  readonly alarmsInAlarm: readonly string[] | null;
  /** Why the source could not answer, when it could not. */
  readonly unavailable: string | null;
}

export interface GateVerdict {
  readonly verdict: SignalStatus;
  readonly signals: Judgement[];
  /** A P0 alarm is firing: the gate fails at once, whatever the tolerance. */
  readonly p0: boolean;
}

function missing(
  policy: GatePolicy['missingData'],
  signal: Judgement['signal'],
  limit: number | null,
  why: string,
): Judgement {
  switch (policy) {
    case 'breaching':
      return { signal, value: null, limit, status: 'fail', note: `${why}; missing data is breaching` };
    case 'notBreaching':
      return { signal, value: null, limit, status: 'pass', note: `${why}; missing data is not breaching` };
    case 'ignore':
      return { signal, value: null, limit, status: 'not-judged', note: `${why}; missing data is ignored` };
  }
}

function below(signal: Judgement['signal'], value: number, limit: number): Judgement {
  return value < limit
    ? { signal, value, limit, status: 'pass', note: '' }
    : { signal, value, limit, status: 'fail', note: `not below ${limit}` };
}

export function judge(reading: Reading, gate: GatePolicy): GateVerdict {
  const signals: Judgement[] = [];
  const { sample } = reading;
  const policy = gate.missingData;

  if (!sample) {
    const why = `metrics unavailable (${reading.unavailable ?? 'no answer'})`;
    signals.push(missing(policy, 'errorRatePercent', gate.errorRateBelowPercent, why));
    signals.push(missing(policy, 'p95LatencyMs', gate.p95LatencyBelowMs, why));
    signals.push(missing(policy, 'memoryMb', gate.memoryBelowMb, why));
    signals.push(missing(policy, 'cpuPercent', gate.cpuBelowPercent, why));
  } else {
    // Counters publish nothing when nothing happened: no data is zero requests, zero errors.
    const requests = sample.requests ?? 0;
    const enough = requests >= gate.minRequests;
    signals.push({
      signal: 'requests',
      value: requests,
      limit: gate.minRequests,
      status: 'not-judged',
      note: enough ? '' : `below the minimum of ${gate.minRequests}: rates not judged`,
    });
    if (!enough) {
      signals.push({
        signal: 'errorRatePercent',
        value: null,
        limit: gate.errorRateBelowPercent,
        status: 'not-judged',
        note: 'too little traffic',
      });
      signals.push({
        signal: 'p95LatencyMs',
        value: sample.p95LatencyMs,
        limit: gate.p95LatencyBelowMs,
        status: 'not-judged',
        note: 'too little traffic',
      });
    } else {
      const rate = ((sample.errors ?? 0) / requests) * 100;
      signals.push(below('errorRatePercent', rate, gate.errorRateBelowPercent));
      signals.push(
        sample.p95LatencyMs === null
          ? missing(policy, 'p95LatencyMs', gate.p95LatencyBelowMs, 'no latency data')
          : below('p95LatencyMs', sample.p95LatencyMs, gate.p95LatencyBelowMs),
      );
    }
    signals.push(
      sample.memoryMb === null
        ? missing(policy, 'memoryMb', gate.memoryBelowMb, 'no memory data')
        : below('memoryMb', sample.memoryMb, gate.memoryBelowMb),
    );
    signals.push(
      sample.cpuPercent === null
        ? missing(policy, 'cpuPercent', gate.cpuBelowPercent, 'no CPU data')
        : below('cpuPercent', sample.cpuPercent, gate.cpuBelowPercent),
    );
  }

  let p0 = false;
  if (gate.failOnP0Alarm) {
    if (reading.alarmsInAlarm === null) {
      signals.push(missing(policy, 'p0Alarms', 0, 'alarm states unavailable'));
    } else if (reading.alarmsInAlarm.length) {
      p0 = true;
      signals.push({
        signal: 'p0Alarms',
        value: reading.alarmsInAlarm.length,
        limit: 0,
        status: 'fail',
        note: `in ALARM: ${reading.alarmsInAlarm.join(', ')}`,
      });
    } else {
      signals.push({ signal: 'p0Alarms', value: 0, limit: 0, status: 'pass', note: '' });
    }
  }

  const judged = signals.filter((s) => s.signal !== 'requests');
  const verdict: SignalStatus = judged.some((s) => s.status === 'fail')
    ? 'fail'
    : judged.some((s) => s.status === 'pass')
      ? 'pass'
      : 'not-judged';
  return { verdict, signals, p0 };
}

/** Failed evaluations in a row: a pass resets it, an evaluation that judged nothing leaves it. */
export function nextConsecutive(previous: number, verdict: SignalStatus): number {
  if (verdict === 'fail') return previous + 1;
  if (verdict === 'pass') return 0;
  return previous;
}

/** One line saying why the gate decided what it did (what the log and the rollback's cause carry). */
export function summarize(v: GateVerdict, consecutive: number, tolerance: number): string {
  const failed = v.signals.filter((s) => s.status === 'fail');
  const detail = failed.length
    ? failed
        .map(
          (s) =>
            `${s.signal} ${s.value === null ? 'no data' : Number(s.value.toFixed(3))}${s.limit === null ? '' : ` (limit ${s.limit})`}${s.note ? `: ${s.note}` : ''}`,
        )
        .join('; ')
    : v.verdict === 'not-judged'
      ? 'nothing could be judged'
      : 'all judged signals within limits';
  return `${v.verdict}, ${consecutive}/${tolerance} failed in a row${v.p0 ? ', P0 alarm firing' : ''}: ${detail}`;
}
