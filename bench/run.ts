/**
 * Recovery-time benchmark on the reference memory stack, side by side in one run:
 *   - baseline: what the hand-run runbook does (flip the flag, restart the API, poll /health);
 *   - the same rollback as a Switchback procedure (with and without preflight);
 *   - a cutover, and a cutover that fails at verification and rolls itself back.
 * Waits between stability polls are shortened to the same 50 ms for every row, so the numbers
 * compare orchestration cost; on AWS the poll interval (stage timing) adds to every row alike.
 * The `backup` section (bench/backup.ts) measures backups and restores of PostgreSQL and SQLite.
 *
 *   npm run bench                          every section
 *   npm run bench -- provider [--runs N]   one section (provider, with the router rollback | backup)
 *   npm run bench -- backup [--pg-mb 100,1000] [--sqlite-mb 1000]
 *   npm run bench -- feature [--runs N]    emergency disable and rollout gate (bench/feature.ts)
 *   npm run bench -- database [--sizes 10000,100000]   vector migration throughput and memory (bench/database.ts)
 */
import '../local/polyfills';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { World } from '../local/world';
import { backupBench } from './backup';
import { databaseBench } from './database';
import { featureBench } from './feature';
import { drillBench, routerBench } from './router';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 7;
const POLL_MS = 50;

interface Row {
  name: string;
  samples: number[];
}

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return { median: at(0.5), p95: at(0.95), min: s[0] as number };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function provider() {
  const dir = mkdtempSync(join(tmpdir(), 'switchback-bench-'));
  const world = await World.start({ dir, engine: { waitOverrideMs: POLL_MS } });
  const baseline: Row = { name: 'baseline: flag + restart + /health (hand-run runbook)', samples: [] };
  const emergency: Row = { name: 'provider-rollback, emergency (no preflight)', samples: [] };
  const preflighted: Row = { name: 'provider-rollback, with preflight', samples: [] };
  const forward: Row = { name: 'provider-cutover (native -> http, verified)', samples: [] };
  const automatic: Row = { name: 'provider-cutover failing at verify -> automatic rollback', samples: [] };
  const rows = [baseline, emergency, preflighted, forward, automatic];
  const expectStatus = (status: string, wanted: string, what: string) => {
    if (status !== wanted) throw new Error(`${what} ended ${status}, expected ${wanted}`);
  };
  const cutover = async () => {
    const r = await world.engine.run('provider-cutover', { reason: 'bench cutover' });
    expectStatus(r.status, 'SUCCEEDED', 'cutover');
  };
  try {
    for (let i = 0; i < runs; i++) {
      await cutover();
      baseline.samples.push(
        await timed(async () => {
          await world.parameters.put('memory/provider', 'native');
          const { deploymentId } = await world.services.redeploy('api');
          for (;;) {
            await new Promise((r) => setTimeout(r, POLL_MS));
            const d = (await world.services.describe('api')).deployments[0];
            if (d?.id === deploymentId && d.rolloutState === 'COMPLETED') break;
          }
          const health = await world.apiHealth();
          if (health.body.provider !== 'native') throw new Error('baseline did not reach native');
        }),
      );

      await cutover();
      emergency.samples.push(
        await timed(async () => {
          const r = await world.engine.run('provider-rollback', { reason: 'bench', emergency: true });
          expectStatus(r.status, 'SUCCEEDED', 'emergency rollback');
        }),
      );

      await cutover();
      preflighted.samples.push(
        await timed(async () => {
          const r = await world.engine.run('provider-rollback', { reason: 'bench' });
          expectStatus(r.status, 'SUCCEEDED', 'rollback');
        }),
      );

      forward.samples.push(await timed(cutover));
      const r = await world.engine.run('provider-rollback', { reason: 'reset' });
      expectStatus(r.status, 'SUCCEEDED', 'reset');
    }
  } finally {
    await world.close();
  }

  // The failing cutover needs its own world (the fault is part of the engine's configuration).
  const dir2 = mkdtempSync(join(tmpdir(), 'switchback-bench-'));
  const faulty = await World.start({
    dir: dir2,
    engine: {
      waitOverrideMs: POLL_MS,
      faults: [{ procedure: 'provider-cutover', state: 'VerifyMemoryThroughApi' }],
    },
  });
  try {
    for (let i = 0; i < runs; i++) {
      automatic.samples.push(
        await timed(async () => {
          const r = await faulty.engine.run('provider-cutover', { reason: 'bench failing cutover' });
          expectStatus(r.status, 'FAILED', 'failing cutover');
          if (r.error !== 'CutoverRolledBackError') throw new Error(`failing cutover ended ${r.error}`);
        }),
      );
    }
  } finally {
    await faulty.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(dir2, { recursive: true, force: true });
  }

  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(
    `\nSwitchback provider procedures, ${runs} runs each, stability poll ${POLL_MS} ms, node ${process.version}\n`,
  );
  console.log('| procedure | median ms | p95 ms | min ms |');
  console.log('|---|---:|---:|---:|');
  for (const row of rows) {
    const s = stats(row.samples);
    console.log(`| ${row.name} | ${s.median.toFixed(0)} | ${s.p95.toFixed(0)} | ${s.min.toFixed(0)} |`);
  }
  console.log(`\npeak resident memory of the orchestrating process: ${rss.toFixed(0)} MB`);
}

const SECTIONS: Record<string, () => Promise<void>> = {
  // The provider procedures, then the alarm-started rollback (bench/router.ts), same number of runs.
  provider: () =>
    provider()
      .then(() => routerBench(runs))
      .then(() => drillBench(runs)),
  backup: () => backupBench(process.argv.slice(2)),
  // Seed 003: emergency disable against the runbook's restart, and the rollout gate's cost (bench/feature.ts).
  feature: () => featureBench(runs),
  // Seed 002: the Qdrant -> pgvector migration against the target's own write limit and a naive copy (bench/database.ts).
  database: () => databaseBench(process.argv.slice(2)),
};

async function main() {
  // Section names are the arguments that are neither options (--x) nor an option's value.
  const args = process.argv.slice(2);
  const named = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  const unknown = named.filter((n) => !(n in SECTIONS));
  if (unknown.length)
    throw new Error(
      `Unknown bench section ${unknown.join(', ')}; sections: ${Object.keys(SECTIONS).join(', ')}`,
    );
  for (const [name, section] of Object.entries(SECTIONS)) {
    if (named.length === 0 || named.includes(name)) await section();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
