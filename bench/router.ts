/**
 * Alarm-started rollback on the reference memory stack: the rollback router's recovery-time
 * phases (alarm state change -> router start -> rollback start -> verified), as its incident
 * reports record them, for the three situations it handles:
 *   - nothing in flight: the last completed provider cutover is rolled back;
 *   - a cutover in flight: it is stopped (lock taken over first) and its change rolled back;
 *   - a storm of 20 alarm events at once: one rollback, 19 events recorded on the incident;
 *   - a CI deploy of a bad build: code-rollback to the last known good task definition;
 *   - a hand edit of AUTONOMOUS_MODE applied by a restart: config-rollback to the last known good value.
 * Stability polls and the post-stop settle wait are shortened to 50 ms, as in `bench/run.ts`.
 *
 *   npm run bench -- [--runs N]        (after the provider procedures)
 *   npx tsx bench/router.ts [--runs N] (alone)
 */
import '../local/polyfills';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECOVERY_TARGETS } from '../functions/shared/alarm-catalog';
import { alarmStateChange } from '../local/alarm-event';
import type { ExecutionRecord } from '../local/engine';
import { World } from '../local/world';

const POLL_MS = 50;
const PHASES = ['detectToDecide', 'decideToExecute', 'executeToVerify', 'total'] as const;
type Phase = (typeof PHASES)[number];

interface Row {
  readonly name: string;
  readonly phases: Record<Phase, number[]>;
  readonly wall: number[];
}

const row = (name: string): Row => ({
  name,
  phases: { detectToDecide: [], decideToExecute: [], executeToVerify: [], total: [] },
  wall: [],
});

function median(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function record(r: Row, run: ExecutionRecord, wallMs: number) {
  const output = run.output as { outcome?: string; phases?: Record<Phase, number | null> } | undefined;
  if (run.status !== 'SUCCEEDED' || output?.outcome !== 'rolled-back')
    throw new Error(`router ended ${run.status} ${output?.outcome ?? run.error}: ${run.cause ?? ''}`);
  for (const p of PHASES) r.phases[p].push((output.phases?.[p] ?? Number.NaN) * 1000);
  r.wall.push(wallMs);
}

export async function routerBench(runs: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'switchback-bench-router-'));
  let inFlight: { start(): Promise<ExecutionRecord> } | undefined;
  const world = await World.start({
    dir,
    incidents: { cooldownMinutes: 1, settleSeconds: 0 },
    timing: { stabilityMaxAttempts: 40 },
    engine: {
      waitOverrideMs: POLL_MS,
      hooks: {
        // The alarm fires while the cutover verifies (flags switched, API restarted on http).
        'provider-cutover:VerifyMemoryThroughApi': async () => {
          const pending = inFlight;
          inFlight = undefined;
          if (pending) await pending.start();
        },
      },
    },
  });
  const alarm = `switchback-${world.config.environment}-s004-error-rate`;
  const quiet = row('nothing in flight: last completed cutover rolled back');
  const flying = row('cutover in flight: stopped, its change rolled back');
  const storm = row('storm of 20 alarm events: one rollback');
  const code = row('CI deploy of a bad build: code-rollback to the last known good');
  const config = row('hand edit of AUTONOMOUS_MODE: config-rollback to the last known good');
  const settled = async () => {
    for (let n = 0; n < 400; n++) {
      if ((await world.services.describe('api')).deployments[0]?.rolloutState === 'COMPLETED') return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('the API did not settle after the change');
  };
  const autonomous = world.config.journal?.watched['mcp/AUTONOMOUS_MODE']?.name ?? '';
  const cutover = async () => {
    const r = await world.engine.run('provider-cutover', { reason: 'bench cutover' });
    if (r.status !== 'SUCCEEDED') throw new Error(`cutover ended ${r.status}: ${r.error} ${r.cause}`);
  };
  // Each run starts a new incident: the previous one is closed and its cool-down ended.
  const clearIncident = () =>
    world.dynamo.integration('deleteItem', {
      TableName: world.lockTable,
      Key: { pk: { S: `${world.config.environment}#incident` } },
    });
  try {
    for (let i = 0; i < runs; i++) {
      // Somebody else's changes first: the router picks the rollback from the journal. (The last
      // known good is judged over its bake with no rollback alarm of the stage: before this
      // iteration's other alarms, the state the journal first saw still counts.)
      world.parameters.putParameter(autonomous, 'true', 'String');
      await world.services.redeploy('api');
      await settled();
      await clearIncident();
      let t = performance.now();
      record(
        config,
        await world.engine.run('rollback-router', world.alarmEvent('s004-error-rate')),
        performance.now() - t,
      );
      await world.services.redeploy(
        'api',
        world.services.registerTaskDefinition('api', { FAULT_ERROR_PERCENT: '50' }),
      );
      await settled();
      await clearIncident();
      t = performance.now();
      record(
        code,
        await world.engine.run('rollback-router', world.alarmEvent('s004-error-rate')),
        performance.now() - t,
      );

      await cutover();
      await clearIncident();
      t = performance.now();
      record(
        quiet,
        await world.engine.run('rollback-router', alarmStateChange(alarm)),
        performance.now() - t,
      );

      await clearIncident();
      // The aborted cutover ends as soon as it is stopped; the router goes on to verify.
      let routed: Promise<ExecutionRecord> | undefined;
      inFlight = {
        start: () => {
          t = performance.now();
          routed = world.engine.run('rollback-router', alarmStateChange(alarm));
          return routed;
        },
      };
      const interrupted = await world.engine.run('provider-cutover', {
        reason: 'bench cutover, interrupted',
      });
      if (!routed || interrupted.status !== 'ABORTED')
        throw new Error(
          `the alarm did not stop the cutover (${interrupted.status} ${interrupted.error ?? ''})`,
        );
      const flown = await routed;
      record(flying, flown, performance.now() - t);

      await cutover();
      await clearIncident();
      t = performance.now();
      const all = await Promise.all(
        Array.from({ length: 20 }, () => world.engine.run('rollback-router', alarmStateChange(alarm))),
      );
      const wall = performance.now() - t;
      const failed = all.filter((r) => r.status !== 'SUCCEEDED');
      if (failed.length)
        throw new Error(
          `storm: ${failed.map((r) => `${r.error}: ${r.cause} (${r.steps.at(-1)?.state})`).join('; ')}`,
        );
      const handled = all.filter((r) => (r.output as { outcome?: string }).outcome === 'rolled-back');
      if (handled.length !== 1) throw new Error(`storm: ${handled.length} rollbacks`);
      record(storm, handled[0] as ExecutionRecord, wall);
    }
  } finally {
    await world.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const target = (p: Phase) => RECOVERY_TARGETS[p] / 60;
  console.log(
    `\nRollback router (alarm -> verified), ${runs} runs each, stability poll ${POLL_MS} ms, node ${process.version}\n`,
  );
  console.log(
    `| situation | alarm -> router ms | router -> rollback ms | rollback -> verified ms | alarm -> verified ms | wall ms |`,
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of [quiet, flying, storm, code, config]) {
    const cells = PHASES.map((p) => median(r.phases[p]).toFixed(0));
    console.log(`| ${r.name} | ${cells.join(' | ')} | ${median(r.wall).toFixed(0)} |`);
  }
  console.log(
    `\nseed 004 targets: detect -> decide < ${target('detectToDecide')} min, decide -> execute < ${target('decideToExecute')} min, execute -> verify < ${target('executeToVerify')} min, total < ${target('total')} min (medians above)`,
  );
}

/**
 * Config rollback drills, in a world of their own (the drill marker's last known good is judged
 * over the bake before the journal first saw it, with no rollback alarm of the stage then): each
 * drill's phases as its report records them, beside seed 004's target.
 */
export async function drillBench(runs: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'switchback-bench-drill-'));
  const world = await World.start({
    dir,
    incidents: { cooldownMinutes: 1, settleSeconds: 0 },
    drills: { pollSeconds: 1 },
    engine: { waitOverrideMs: POLL_MS },
  });
  const phases: Record<string, number[]> = { changeToAlarm: [], alarmToRolledBack: [], total: [] };
  try {
    for (let i = 0; i < runs; i++) {
      await world.dynamo.integration('deleteItem', {
        TableName: world.lockTable,
        Key: { pk: { S: `${world.config.environment}#incident` } },
      });
      const run = await world.engine.run('drill', { kind: 'config', reason: 'bench drill' });
      const out = run.output as { outcome?: string; phases?: Record<string, number> } | undefined;
      if (run.status !== 'SUCCEEDED' || out?.outcome !== 'drilled' || !out.phases)
        throw new Error(`drill ended ${run.status} ${out?.outcome ?? run.error}: ${run.cause ?? ''}`);
      for (const [k, v] of Object.entries(out.phases)) phases[k]?.push(v * 1000);
      // Let the router finish its report before the next drill.
      while (world.engine.executions.some((e) => e.status === 'RUNNING'))
        await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await world.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`
Config rollback drill (SetAlarmState -> router -> verified), ${runs} runs, polls ${POLL_MS} ms
`);
  console.log('| drill | change -> alarm ms | alarm -> rolled back and verified ms | total ms |');
  console.log('|---|---:|---:|---:|');
  const m = (k: string) => median(phases[k] ?? []).toFixed(0);
  console.log(`| config | ${m('changeToAlarm')} | ${m('alarmToRolledBack')} | ${m('total')} |`);
  console.log(`
seed 004 target: alarm -> verified < ${RECOVERY_TARGETS.total / 60} min (median above)`);
}

if (require.main === module) {
  const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 5;
  routerBench(runs)
    .then(() => drillBench(runs))
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
}
