import { MetricsUnavailableError } from '../../functions/shared/errors';
import type { GateSample, MetricsSource } from '../../functions/shared/ports';

/** A healthy service under load: well inside seed 003's success criteria. */
export const HEALTHY_SAMPLE: GateSample = Object.freeze({
  requests: 6_000,
  errors: 1,
  p95LatencyMs: 180,
  memoryMb: 310,
  cpuPercent: 35,
});

type Scripted = Partial<GateSample> | 'unavailable';

/**
 * The metrics source of tests and rehearsals: answers `current` (healthy by default), or the next
 * queued answer once. Tests change it mid-flight (a hook before a state) to script an error-rate
 * rise, one noisy window, no traffic, missing data or a P0 alarm.
 */
export class ScriptedMetricsSource implements MetricsSource {
  current: GateSample;
  /** Names of P0 alarms "in ALARM". */
  alarms: string[] = [];
  /** Every window asked for, in order. */
  readonly windows: { start: Date; end: Date }[] = [];
  private readonly queued: Scripted[] = [];

  constructor(initial: Partial<GateSample> = {}) {
    this.current = { ...HEALTHY_SAMPLE, ...initial };
  }

  /** From now on, answer this (merged over the current answer). */
  set(sample: Partial<GateSample>): this {
    this.current = { ...this.current, ...sample };
    return this;
  }

  /** The next reads answer these, one each, then `current` again. */
  queue(...samples: Scripted[]): this {
    this.queued.push(...samples);
    return this;
  }

  async sample(window: { readonly start: Date; readonly end: Date }): Promise<GateSample> {
    this.windows.push({ start: window.start, end: window.end });
    const next = this.queued.shift();
    if (next === 'unavailable') throw new MetricsUnavailableError('scripted: the metrics source is down');
    return { ...this.current, ...next };
  }

  async alarmsInAlarm(): Promise<string[]> {
    return [...this.alarms];
  }
}
