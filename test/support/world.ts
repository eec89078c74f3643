import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRecord, recordKey } from '../../functions/change-record/record';
import type { MetricsSource } from '../../functions/shared/ports';
import type { Fault, Hook } from '../../local/engine';
import { World, type WorldOptions } from '../../local/world';

export interface TestWorldOptions {
  readonly hooks?: Record<string, Hook>;
  readonly faults?: readonly Fault[];
  readonly sidecarApiKey?: string;
  readonly stabilityMaxAttempts?: number;
  /** How many times a drill looks for its rollback (60 by default). */
  readonly drillPolls?: number;
  readonly postgres?: boolean;
  /** What rollout gates read (a scripted source the test drives). */
  readonly metricsSource?: MetricsSource;
  readonly featureFlagCacheMs?: number;
  /** A database cutover's configuration and secrets (test/support/database.ts builds them). */
  readonly database?: WorldOptions['database'];
  /** Stage `alarms` overrides for the rollback router's catalog. */
  readonly alarms?: WorldOptions['alarms'];
}

/** A fresh world per scenario, with fast waits; `dispose` stops its processes and removes its folder. */
export async function startWorld(
  options: TestWorldOptions = {},
): Promise<World & { dispose(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'switchback-test-'));
  const world = await World.start({
    dir,
    sidecarApiKey: options.sidecarApiKey,
    postgres: options.postgres,
    metricsSource: options.metricsSource,
    featureFlagCacheMs: options.featureFlagCacheMs,
    database: options.database,
    alarms: options.alarms,
    ...(options.drillPolls ? { drills: { polls: options.drillPolls } } : {}),
    // Polls every 100 ms, up to 3 s by default: generous on a loaded 2-core machine, still fast.
    timing: { stabilityMaxAttempts: options.stabilityMaxAttempts ?? 30, httpTimeoutMs: 2_000 },
    engine: { waitOverrideMs: 100, hooks: options.hooks, faults: options.faults },
  });
  return Object.assign(world, {
    async dispose() {
      await world.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** The notice a notification carries as JSON (its `notice` message attribute). */
export function noticeOf(n: { readonly attributes: Readonly<Record<string, string>> } | undefined) {
  const json = n?.attributes.notice;
  if (json === undefined) throw new Error('no notification, or one without a notice attribute');
  return JSON.parse(json) as Record<string, unknown> & { outcome: string; summary: string; subject: string };
}

/** State names the execution entered, in order, without Choice and Pass states. */
export function pathOf(execution: { steps: readonly { state: string; type: string }[] }): string[] {
  return execution.steps.filter((s) => s.type !== 'Choice' && s.type !== 'Pass').map((s) => s.state);
}

/** Flag values and versions: what "nothing changed" is checked against. */
export async function flagState(world: World) {
  const out: Record<string, { value: string; version: number }> = {};
  for (const name of [
    'memory/provider',
    'memory/http-base',
    'maintenance-mode',
    'automation/paused',
  ] as const) {
    out[name] = await world.parameters.get(name);
  }
  return out;
}

export async function changeRecordOf(world: World, changeId: string) {
  return readRecord(world.blobs, recordKey(world.config.changeRecords.prefix, changeId));
}

/** Writes and recalls a memory through the API: what a user of the memory service would see. */
export async function memoryRoundTrip(world: World, text: string) {
  const base = world.config.endpoints.api;
  const write = await fetch(`${base}/memories`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  const recall = await fetch(`${base}/memories/recall?q=${encodeURIComponent(text)}&k=3`);
  const body = (await recall.json()) as { provider?: string; results?: { text: string }[] };
  return {
    written: write.status,
    provider: body.provider,
    recalled: body.results?.some((r) => r.text === text) ?? false,
  };
}

export async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not met in time');
}
