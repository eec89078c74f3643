import type { HttpFetch } from './ports';

export interface HttpResult {
  readonly status: number;
  readonly body: unknown;
  readonly latencyMs: number;
}

export interface HttpRequest {
  readonly method?: 'GET' | 'POST';
  readonly json?: unknown;
  readonly bearer?: string;
  readonly timeoutMs: number;
}

/**
 * One JSON request with a hard timeout. Network failures reject with a message that names the
 * URL and the reason (never the headers, which may carry a bearer token).
 */
export async function requestJson(fetchFn: HttpFetch, url: string, req: HttpRequest): Promise<HttpResult> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (req.json !== undefined) headers['content-type'] = 'application/json';
  if (req.bearer) {
    // fetch would reject such a value with an error that quotes it: refuse it here, unquoted.
    const token = req.bearer.trim();
    if (!/^[\x20-\x7e]+$/.test(token))
      throw new Error(
        `${req.method ?? 'GET'} ${url} failed: the bearer token holds characters an HTTP header cannot carry`,
      );
    headers.authorization = `Bearer ${token}`;
  }
  const started = performance.now();
  let response: Response;
  try {
    response = await fetchFn(url, {
      method: req.method ?? 'GET',
      headers,
      body: req.json === undefined ? undefined : JSON.stringify(req.json),
      signal: AbortSignal.timeout(req.timeoutMs),
    });
  } catch (err) {
    const reason =
      err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
        ? `no answer within ${req.timeoutMs} ms`
        : describeNetworkError(err);
    throw new Error(`${req.method ?? 'GET'} ${url} failed: ${reason}`);
  }
  const text = await response.text();
  const latencyMs = Math.round(performance.now() - started);
  let body: unknown = text;
  try {
    body = text.length ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: keep the text so the caller can report what came back.
  }
  return { status: response.status, body, latencyMs };
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? err.message;
}

export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}
