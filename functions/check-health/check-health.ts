import { z } from 'zod';
import { HealthCheckFailedError } from '../shared/errors';
import { joinUrl, requestJson } from '../shared/http';
import { defineStep } from '../shared/step';

const Input = z.strictObject({
  target: z.enum(['api', 'sidecar']),
  /** Overrides the configured base URL (the cutover checks the sidecar it is about to switch to). */
  baseUrl: z.url({ protocol: /^https?$/ }).nullish(),
  /** When set, the API must report exactly this memory provider. */
  expectProvider: z.enum(['native', 'http']).nullish(),
});

const HealthBody = z.looseObject({
  status: z.string(),
  provider: z.string().optional(),
});

export interface HealthResult {
  readonly target: 'api' | 'sidecar';
  readonly url: string;
  readonly status: string;
  readonly provider: string | null;
  readonly latencyMs: number;
}

/**
 * GET `<base>/health`: healthy means HTTP 200 with `status: "ok"` and, when asked, the expected
 * provider. Anything else throws HealthCheckFailedError saying what came back; the state
 * machines retry it a few times before acting on it.
 */
export const checkHealth = defineStep({
  name: 'check-health',
  input: Input,
  async run(input, { config, fetch }): Promise<HealthResult> {
    const base = input.baseUrl ?? config.endpoints[input.target];
    const url = joinUrl(base, '/health');
    let res: Awaited<ReturnType<typeof requestJson>>;
    try {
      res = await requestJson(fetch, url, { timeoutMs: config.timing.httpTimeoutMs });
    } catch (err) {
      throw new HealthCheckFailedError(`${input.target} health check: ${(err as Error).message}`);
    }
    const body = HealthBody.safeParse(res.body);
    if (res.status !== 200 || !body.success || body.data.status !== 'ok') {
      const seen = body.success ? `status "${body.data.status}"` : 'no health document';
      throw new HealthCheckFailedError(
        `${input.target} at ${url} is not healthy: HTTP ${res.status}, ${seen}`,
      );
    }
    const provider = body.data.provider ?? null;
    if (input.expectProvider && provider !== input.expectProvider) {
      throw new HealthCheckFailedError(
        `${input.target} at ${url} reports memory provider "${provider ?? 'none'}", expected "${input.expectProvider}"`,
      );
    }
    return { target: input.target, url, status: body.data.status, provider, latencyMs: res.latencyMs };
  },
});
