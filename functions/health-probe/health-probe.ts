import { z } from 'zod';
import { checkHealth } from '../check-health/check-health';
import { metricsOf } from '../shared/metrics';
import type { MetricDatum } from '../shared/ports';
import type { Deps } from '../shared/step';
import { defineStep } from '../shared/step';

/** What the schedule rule sends (its target input), not the scheduled event itself. */
const Input = z.strictObject({
  /** Probes per invocation; with a rule firing every minute, 6 rounds 10 s apart cover the minute. */
  rounds: z.number().int().min(1).max(12),
  intervalMs: z.number().int().min(10).max(30_000),
  targets: z
    .array(z.enum(['api', 'sidecar']))
    .min(1)
    .default(['api', 'sidecar']),
});

interface Probe {
  readonly target: 'api' | 'sidecar';
  readonly up: boolean;
  readonly latencyMs: number;
  readonly at: Date;
  readonly error?: string;
}

/**
 * Seed 000's scheduled health check, tightened: probes the API's and the sidecar's `/health`
 * several times within one invocation and publishes each result at once as high-resolution
 * (1 s storage) `Availability` (1 up, 0 down) and `LatencyMs` metrics, so an alarm on 10 s
 * periods sees "down > 30 s" within about a minute. A probe's answer counts as up only if it is
 * HTTP 200 with `status: "ok"` within the timeout (the same rule as the procedures' health checks).
 */
export const healthProbe = defineStep({
  name: 'health-probe',
  input: Input,
  async run(input, deps) {
    const metrics = metricsOf(deps);
    const started = performance.now();
    const probes: Probe[] = [];
    let publishError: unknown;
    for (let round = 0; round < input.rounds; round++) {
      const due = started + round * input.intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const results = await Promise.all(input.targets.map((target) => probe(target, input.intervalMs, deps)));
      probes.push(...results);
      try {
        await metrics.put(results.flatMap((p) => datums(p, deps.config.environment)));
      } catch (err) {
        // Keep probing: the next round may get through; the invocation fails at the end.
        publishError = err;
        deps.log.error('probe metrics not published', { round, errorName: (err as Error).name });
      }
    }
    const summary = Object.fromEntries(
      input.targets.map((target) => {
        const mine = probes.filter((p) => p.target === target);
        return [
          target,
          {
            up: mine.filter((p) => p.up).length,
            down: mine.filter((p) => !p.up).length,
            maxLatencyMs: Math.max(...mine.map((p) => p.latencyMs)),
          },
        ];
      }),
    );
    const down = probes.filter((p) => !p.up);
    if (down.length) deps.log.warn('probes failed', { failures: down.map((p) => `${p.target}: ${p.error}`) });
    if (publishError) throw publishError;
    return { rounds: input.rounds, targets: summary };
  },
});

async function probe(target: 'api' | 'sidecar', intervalMs: number, deps: Deps): Promise<Probe> {
  // A probe must answer before the next round is due.
  const timeoutMs = Math.min(deps.config.timing.httpTimeoutMs, Math.max(100, intervalMs - 100));
  const at = deps.clock.now();
  const t = performance.now();
  try {
    const result = await checkHealth.run(
      { target, baseUrl: null, expectProvider: null },
      { ...deps, config: { ...deps.config, timing: { ...deps.config.timing, httpTimeoutMs: timeoutMs } } },
    );
    return { target, up: true, latencyMs: result.latencyMs, at };
  } catch (err) {
    return {
      target,
      up: false,
      latencyMs: Math.round(performance.now() - t),
      at,
      error: (err as Error).message,
    };
  }
}

function datums(p: Probe, environment: string): MetricDatum[] {
  const dimensions = { Environment: environment, Target: p.target };
  return [
    {
      name: 'Availability',
      value: p.up ? 1 : 0,
      unit: 'None',
      dimensions,
      timestamp: p.at,
      storageResolution: 1,
    },
    {
      name: 'LatencyMs',
      value: p.latencyMs,
      unit: 'Milliseconds',
      dimensions,
      timestamp: p.at,
      storageResolution: 1,
    },
  ];
}
