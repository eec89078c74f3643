import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { FeatureCheckFailedError, FeatureNotDisabledError } from '../shared/errors';
import { type HttpResult, joinUrl, requestJson } from '../shared/http';
import { MemoryContextFlag, probeProjects } from '../shared/memory-context';
import type { HttpFetch } from '../shared/ports';
import { defineStep } from '../shared/step';

const Phase = z.strictObject({
  mode: z.literal('phase'),
  /** The flag document the phase set. */
  expect: MemoryContextFlag,
  /** The flag version the phase wrote: the app must report it (or newer) before anything is judged. */
  minVersion: z.number().int().min(1),
  withinSeconds: z.number().int().min(1).max(60),
  /** Goes into the content of the memory item written for the allow-listed project. */
  label: z.string().regex(/^[A-Za-z0-9_.:\- ]{1,120}$/),
});
const Off = z.strictObject({
  mode: z.literal('off'),
  minVersion: z.number().int().min(1),
  /** Start of the budget (the disable execution's start); null: from now. */
  since: z.iso.datetime({ offset: true }).nullable(),
  withinSeconds: z.number().int().min(1).max(60),
});
const Input = z.discriminatedUnion('mode', [Phase, Off]);

/** The app's `GET /api/v1/config` (seed 003), as far as the checks read it. */
const ConfigBody = z.looseObject({
  memory_context_enabled: z.boolean(),
  memory_context: z.looseObject({
    enabled: z.boolean(),
    percentage: z.number().nullable(),
    flag_version: z.number().nullable(),
    flag_error: z.string().nullable().optional(),
  }),
});
type ConfigBody = z.infer<typeof ConfigBody>;

/** Consecutive matching answers required: behind a load balancer each may come from another task. */
const CONFIRMATIONS = 3;
/** Pause between polls while the app does not serve the expected flag yet: doubling up to 500 ms. */
const FIRST_POLL_MS = 50;
const MAX_POLL_MS = 500;
const DISABLED = new Set([403, 404, 503]);

export interface CheckResult {
  readonly what: string;
  readonly status: number;
  readonly ok: boolean;
}

export interface FeatureCheckResult {
  readonly mode: 'phase' | 'off';
  /** Milliseconds from `since` (or the check's start) until the app served the expected flag. */
  readonly servedAfterMs: number;
  readonly flagVersion: number | null;
  readonly checks: CheckResult[];
}

/**
 * Checks from outside that the app serves what the flag says. It polls `GET /api/v1/config`
 * until the app reports the flag version just written (or newer) with the expected state, three
 * answers in a row, within the deadline; then, in `phase` mode, exercises the memory endpoints
 * the way seed 003's phases do: disabled answers 404/403/503; allow-listed projects create, list
 * and preview a context pack; probe projects inside and outside the percentage get 200 and 403
 * (stickiness). `off` mode is the emergency disable's verification: config off, and a memory
 * endpoint refusing.
 */
export const featureCheck = defineStep({
  name: 'feature-check',
  input: Input,
  async run(input, { config, fetch, clock }): Promise<FeatureCheckResult> {
    const api = config.endpoints.api;
    const timeoutMs = config.timing.httpTimeoutMs;
    // Deadlines run on a monotonic timer; the clock only anchors them to the budget's start.
    const wallStart = clock.now().getTime();
    const since = input.mode === 'off' && input.since ? Date.parse(input.since) : wallStart;
    const remainingMs = since + input.withinSeconds * 1000 - wallStart;
    const expectEnabled = input.mode === 'phase' ? input.expect.enabled : false;
    const matches = (c: ConfigBody) =>
      (c.memory_context.flag_version ?? 0) >= input.minVersion &&
      !c.memory_context.flag_error &&
      c.memory_context_enabled === expectEnabled &&
      (input.mode === 'off' ||
        !input.expect.enabled ||
        c.memory_context.percentage === input.expect.percentage);

    const served = await pollConfig(fetch, joinUrl(api, '/api/v1/config'), timeoutMs, remainingMs, matches);
    const fail = (what: string): never => {
      if (input.mode === 'off') throw new FeatureNotDisabledError(what);
      throw new FeatureCheckFailedError(what);
    };
    if (!served.ok) {
      fail(
        `${api} did not serve the flag ${input.mode === 'off' ? 'off' : `of the phase (${describeFlag(input.mode === 'phase' ? input.expect : null)})`} at version >= ${input.minVersion} within ${input.withinSeconds} s: last answer ${served.last}`,
      );
    }
    const checks: CheckResult[] = [];
    const call = async (what: string, path: string, json?: unknown): Promise<HttpResult> => {
      try {
        return await requestJson(fetch, joinUrl(api, path), {
          method: json === undefined ? 'GET' : 'POST',
          json,
          timeoutMs,
        });
      } catch (err) {
        return fail(`${what}: ${(err as Error).message}`);
      }
    };
    const expectStatus = async (what: string, path: string, ok: (s: number) => boolean, json?: unknown) => {
      const res = await call(what, path, json);
      checks.push({ what, status: res.status, ok: ok(res.status) });
      if (!ok(res.status)) fail(`${what} answered HTTP ${res.status}`);
      return res;
    };
    const list = (project: string) => `/api/v1/memory-items?project_id=${encodeURIComponent(project)}`;

    const flag = input.mode === 'phase' ? input.expect : null;
    const probes = probeProjects(flag ?? { enabled: false, percentage: 0, allowList: [] });
    if (!flag?.enabled) {
      // Seed 003 phase 1: the memory endpoints answer disabled.
      const project = probes.outside ?? 'switchback-probe';
      await expectStatus(
        `create a memory item for ${project} while the feature is off`,
        '/api/v1/memory-items',
        (s) => DISABLED.has(s),
        { project_id: project, type: 'decision', content: 'switchback check: must be refused' },
      );
      await expectStatus(`list memory items of ${project} while off`, list(project), (s) => DISABLED.has(s));
    } else {
      const internal = flag.allowList[0];
      if (internal && input.mode === 'phase') {
        // Seed 003 phase 2: create, list, context pack preview for an internal project.
        const content = `Switchback rollout check ${input.label} ${randomUUID()}`;
        const created = await expectStatus(
          `create a memory item for allow-listed ${internal}`,
          '/api/v1/memory-items',
          (s) => s === 201,
          {
            project_id: internal,
            type: 'decision',
            content,
            tags: ['rollout-test'],
            confidence: 0.9,
            status: 'active',
            metadata: { check: input.label },
          },
        );
        const id = (created.body as { id?: unknown } | undefined)?.id;
        const listed = await expectStatus(
          `list memory items of ${internal}`,
          list(internal),
          (s) => s === 200,
        );
        const items = (listed.body as { items?: { id?: unknown }[] } | undefined)?.items ?? [];
        if (!items.some((i) => i.id === id))
          fail(`the memory item just created for ${internal} is not listed`);
        await expectStatus(
          `preview a context pack for ${internal}`,
          '/api/v1/context-packs/preview',
          (s) => s === 200,
          {
            project_id: internal,
            budget_tokens: 4000,
          },
        );
      }
      // Canary and full: stickiness by project id, read-only (no data written for probe projects).
      if (probes.inside) {
        await expectStatus(
          `list for ${probes.inside} (inside ${flag.percentage} %)`,
          list(probes.inside),
          (s) => s === 200,
        );
      }
      if (probes.outside) {
        await expectStatus(
          `list for ${probes.outside} (outside ${flag.percentage} %)`,
          list(probes.outside),
          (s) => s === 403,
        );
      }
    }
    return {
      mode: input.mode,
      servedAfterMs: Math.round(wallStart - since + served.afterMs),
      flagVersion: served.version,
      checks,
    };
  },
});

function describeFlag(flag: MemoryContextFlag | null): string {
  if (!flag?.enabled) return 'off';
  return `on for ${flag.percentage} % and ${flag.allowList.length} allow-listed projects`;
}

async function pollConfig(
  fetchFn: HttpFetch,
  url: string,
  timeoutMs: number,
  remainingMs: number,
  matches: (c: ConfigBody) => boolean,
): Promise<{ ok: boolean; afterMs: number; version: number | null; last: string }> {
  const t0 = performance.now();
  const elapsed = () => performance.now() - t0;
  let streak = 0;
  let misses = 0;
  let last = 'none';
  for (;;) {
    try {
      const left = Math.max(100, Math.floor(remainingMs - elapsed()));
      const res = await requestJson(fetchFn, url, { timeoutMs: Math.min(timeoutMs, left) });
      const body = ConfigBody.safeParse(res.body);
      if (res.status === 200 && body.success) {
        const m = body.data.memory_context;
        last = `enabled ${body.data.memory_context_enabled}, ${m.percentage ?? '-'} %, version ${m.flag_version ?? 'none'}${m.flag_error ? `, flag error: ${m.flag_error}` : ''}`;
        streak = matches(body.data) ? streak + 1 : 0;
        if (streak === 0) misses += 1;
        if (streak >= CONFIRMATIONS) return { ok: true, afterMs: elapsed(), version: m.flag_version, last };
      } else {
        streak = 0;
        misses += 1;
        last = `HTTP ${res.status}${body.success ? '' : ', no config document'}`;
      }
    } catch (err) {
      streak = 0;
      misses += 1;
      last = (err as Error).message;
    }
    const pause = streak > 0 ? 20 : Math.min(MAX_POLL_MS, FIRST_POLL_MS * 2 ** Math.max(0, misses - 1));
    if (elapsed() + pause > remainingMs) return { ok: false, afterMs: elapsed(), version: null, last };
    await new Promise((r) => setTimeout(r, pause));
  }
}
