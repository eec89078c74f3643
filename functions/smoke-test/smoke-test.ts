import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { SmokeTestFailedError } from '../shared/errors';
import { type HttpResult, joinUrl, requestJson } from '../shared/http';
import { defineStep } from '../shared/step';

const Input = z.strictObject({
  target: z.enum(['api', 'sidecar']),
  baseUrl: z.url({ protocol: /^https?$/ }).nullish(),
  /** Prefix of the unique marker written and then recalled. */
  marker: z.string().regex(/^[A-Za-z0-9_.:-]{1,120}$/),
  /** API only: the provider that must have served both the write and the recall. */
  expectProvider: z.enum(['native', 'http']).nullish(),
});

const RecallBody = z.looseObject({
  provider: z.string().optional(),
  results: z.array(z.looseObject({ text: z.string() })),
});
const WriteBody = z.looseObject({ id: z.union([z.string(), z.number()]), provider: z.string().optional() });

export interface SmokeResult {
  readonly target: 'api' | 'sidecar';
  readonly marker: string;
  readonly recalled: true;
  readonly provider: string | null;
  readonly latencyMs: number;
}

/** The API's and the sidecar's memory endpoints (seed 000: `/remember` + `/recall` on the sidecar). */
const ROUTES = {
  sidecar: { write: '/remember', recall: '/recall' },
  api: { write: '/memories', recall: '/memories/recall' },
} as const;

/**
 * Write a unique marker, then recall it: proves the memory path works end to end, not just that
 * a health endpoint answers. The sidecar's API key is resolved here from its SecureString
 * parameter and never returned, logged or put in an error.
 */
export const smokeTest = defineStep({
  name: 'smoke-test',
  input: Input,
  async run(input, { config, fetch, secrets }): Promise<SmokeResult> {
    const base = input.baseUrl ?? config.endpoints[input.target];
    const routes = ROUTES[input.target];
    const marker = `${input.marker}-${randomUUID()}`;
    const bearer =
      input.target === 'sidecar' && config.secrets.sidecarApiKeyParameter
        ? await secrets.get(config.secrets.sidecarApiKeyParameter)
        : undefined;
    const timeoutMs = config.timing.httpTimeoutMs;
    const fail = (what: string): never => {
      throw new SmokeTestFailedError(`${input.target} smoke test at ${base}: ${what}`);
    };
    const call = async (path: string, init: { method?: 'POST'; json?: unknown }): Promise<HttpResult> => {
      try {
        return await requestJson(fetch, joinUrl(base, path), { ...init, bearer, timeoutMs });
      } catch (err) {
        return fail((err as Error).message);
      }
    };

    const write = await call(routes.write, { method: 'POST', json: { text: marker } });
    const written = WriteBody.safeParse(write.body);
    if (write.status >= 300 || !written.success) fail(`write answered HTTP ${write.status}`);

    const recall = await call(`${routes.recall}?q=${encodeURIComponent(marker)}&k=5`, {});
    const recalled = RecallBody.safeParse(recall.body);
    if (recall.status !== 200 || !recalled.success) return fail(`recall answered HTTP ${recall.status}`);
    if (!recalled.data.results.some((r) => r.text === marker))
      fail('the marker just written was not recalled');

    const provider = recalled.data.provider ?? null;
    if (input.expectProvider && provider !== input.expectProvider) {
      fail(`recall was served by provider "${provider ?? 'none'}", expected "${input.expectProvider}"`);
    }
    return {
      target: input.target,
      marker,
      recalled: true,
      provider,
      latencyMs: write.latencyMs + recall.latencyMs,
    };
  },
});
