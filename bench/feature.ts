/**
 * Seed 003's emergency disable and rollout gate on the reference memory stack:
 *   - disable: from "start" to "the app serves the feature off" (GET /api/v1/config, three answers in
 *     a row), against the runbook's way (write the flag, restart the API, poll until it serves off),
 *     for several flag cache lifetimes of the app (the cache is what bounds "off within a minute");
 *   - rollout: the cost of one gate evaluation (metrics read, judgement, rollout log rewritten as
 *     JSON + Markdown in S3) as the log grows to the seed plan's 1488 evaluations, and the log's size.
 *
 *   npm run bench -- feature [--runs N]
 */
import '../local/polyfills';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateGate } from '../functions/evaluate-gate/evaluate-gate';
import { rolloutLogKey, rolloutMarkdownKey } from '../functions/rollout/log';
import { rollout } from '../functions/rollout/rollout';
import {
  MEMORY_CONTEXT_FLAG,
  MEMORY_CONTEXT_OFF,
  serializeMemoryContextFlag,
} from '../functions/shared/memory-context';
import { ApprovalPolicy, GatePolicy, seedPhases } from '../functions/shared/rollout-plan';
import { type Deps, invokeStep } from '../functions/shared/step';
import { RecordingLog } from '../local/adapters/recording-log';
import { ScriptedMetricsSource } from '../local/adapters/scripted-metrics';
import { World } from '../local/world';

const ON = serializeMemoryContextFlag({ enabled: true, percentage: 100, allowList: ['internal-test'] });
const OFF = serializeMemoryContextFlag(MEMORY_CONTEXT_OFF);

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return { median: at(0.5), p95: at(0.95), max: s.at(-1) as number };
}

async function servesOff(world: World): Promise<boolean> {
  const res = await fetch(`${world.config.endpoints.api}/api/v1/config`);
  return !((await res.json()) as { memory_context_enabled: boolean }).memory_context_enabled;
}

/** Turns the feature on and waits until the app serves it (its cache has expired). */
async function switchOn(world: World, cacheMs: number): Promise<void> {
  await world.parameters.put(MEMORY_CONTEXT_FLAG, ON);
  const deadline = Date.now() + cacheMs + 10_000;
  while (await servesOff(world)) {
    if (Date.now() > deadline) throw new Error('the app never served the feature on');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function disableRows(runs: number): Promise<string[]> {
  const lines: string[] = [];
  for (const cacheMs of [200, 1_000, 5_000, 15_000]) {
    const dir = mkdtempSync(join(tmpdir(), 'switchback-bench-'));
    const world = await World.start({ dir, featureFlagCacheMs: cacheMs, engine: { waitOverrideMs: 50 } });
    const n = cacheMs >= 15_000 ? Math.min(runs, 3) : runs;
    const wall: number[] = [];
    const served: number[] = [];
    const baseline: number[] = [];
    try {
      for (let i = 0; i < n; i++) {
        await switchOn(world, cacheMs);
        const t = performance.now();
        const run = await world.engine.run('feature-disable', { reason: 'bench emergency disable' });
        if (run.status !== 'SUCCEEDED') throw new Error(`disable ended ${run.status}: ${run.cause}`);
        wall.push(performance.now() - t);
        served.push((run.output as { servedOffAfterMs: number }).servedOffAfterMs);

        // The runbook's way: write the flag, restart the API (it reads the flag afresh), poll.
        await switchOn(world, cacheMs);
        const b = performance.now();
        await world.parameters.put(MEMORY_CONTEXT_FLAG, OFF);
        await world.services.redeploy('api');
        for (;;) {
          await new Promise((r) => setTimeout(r, 20));
          if (!world.services.isRunning('api')) continue;
          if (await servesOff(world).catch(() => false)) break;
        }
        baseline.push(performance.now() - b);
      }
    } finally {
      await world.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const w = stats(wall);
    const s = stats(served);
    const r = stats(baseline);
    lines.push(
      `| ${(cacheMs / 1000).toString().padStart(4)} s | ${n} | ${w.median.toFixed(0)} | ${w.p95.toFixed(0)} | ${s.median.toFixed(0)} | ${s.max.toFixed(0)} | ${r.median.toFixed(0)} |`,
    );
  }
  return lines;
}

async function gateRows(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'switchback-bench-'));
  const world = await World.start({ dir });
  const lines: string[] = [];
  try {
    const metricsSource = new ScriptedMetricsSource();
    const deps: Deps = {
      config: world.config,
      flags: world.parameters,
      secrets: { get: async () => '' },
      services: world.services,
      blobs: world.blobs,
      objects: world.objects,
      fetch: globalThis.fetch,
      clock: { now: () => new Date() },
      log: new RecordingLog().forStep('bench'),
      metricsSource,
    };
    const gate = GatePolicy.parse({});
    const phases = seedPhases({
      internalProjects: ['internal-test'],
      canaryPercentage: 10,
      bakeSeconds: {},
      skip: [],
    }).map((p, index) => ({ ...p, index, evaluations: Math.ceil(p.bakeSeconds / gate.intervalSeconds) }));
    const total = phases.reduce((n, p) => n + p.evaluations, 0);
    await invokeStep(
      rollout,
      {
        action: 'open',
        rolloutId: 'bench',
        executionId: 'arn:bench',
        reason: 'bench',
        requestedBy: 'bench',
        dryRun: true,
        phases,
        gate,
        approval: ApprovalPolicy.parse({}),
      },
      deps,
    );
    const marks = new Set([1, 100, 500, 1000, total]);
    let done = 0;
    let window: number[] = [];
    for (const phase of phases) {
      for (let e = 0; e < phase.evaluations; e++) {
        const t = performance.now();
        await invokeStep(
          evaluateGate,
          {
            rolloutId: 'bench',
            dryRun: true,
            phase: { index: phase.index, name: phase.name, evaluations: phase.evaluations },
            gate,
            state: { evaluation: e, consecutiveFailures: 0 },
            flagVersion: 1,
          },
          deps,
        );
        window.push(performance.now() - t);
        done += 1;
        if (marks.has(done)) {
          const json = (await world.blobs.get(rolloutLogKey(world.config.environment, 'bench')))?.length ?? 0;
          const md =
            (await world.blobs.get(rolloutMarkdownKey(world.config.environment, 'bench')))?.length ?? 0;
          const s = stats(window);
          lines.push(
            `| ${String(done).padStart(4)} | ${s.median.toFixed(1)} | ${s.max.toFixed(1)} | ${(json / 1024).toFixed(0)} | ${(md / 1024).toFixed(0)} |`,
          );
          window = [];
        }
      }
    }
  } finally {
    await world.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}

export async function featureBench(runs: number): Promise<void> {
  const disable = await disableRows(runs);
  console.log(`\nSeed 003 emergency disable, node ${process.version}`);
  console.log(
    '| app flag cache | runs | disable wall median ms | wall p95 ms | served off after (median ms) | served off after (max ms) | runbook: flag + restart API, median ms |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const l of disable) console.log(l);

  const gate = await gateRows();
  console.log(
    '\nRollout gate evaluation as the log grows (seed 003 plan: 4 h + 24 h + 48 h + 48 h, every 5 min)',
  );
  console.log(
    '| evaluations logged | median ms per evaluation (since previous row) | max ms | log JSON KB | log Markdown KB |',
  );
  console.log('|---:|---:|---:|---:|---:|');
  for (const l of gate) console.log(l);
}

if (require.main === module) {
  const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 5;
  featureBench(runs).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
