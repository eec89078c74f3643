import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { RealDatabaseConnector } from '../../functions/shared/adapters/vector-stores';
import { parseLossless, stringifyLossless } from '../../functions/shared/lossless-json';
import {
  QdrantCollectionInfo,
  QdrantCountResult,
  QdrantErrorBody,
  QdrantQueryResponse,
  QdrantRetrieveResult,
  QdrantScrollResult,
  qdrantEnvelope,
} from '../../functions/shared/qdrant-schemas';
import { QdrantStandin, type StandinPoint } from '../../local/qdrant-standin';

/**
 * The stand-in held to the schemas the adapter enforces (written from Qdrant's specification):
 * every answer the cutover reads parses with them, and the edge cases answer as Qdrant does.
 * Then the adapter's classification of what Qdrant answers: named errors, transient or not.
 */
const KEY = 'qk-contract';
const HUGE = ['9223372036854775808', '9223372036854775809', '18446744073709551615'];
const UPPER = 'A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D';
const vec = (i: number) => Array.from({ length: 4 }, (_, j) => (i === j ? 1 : 0.1 * (j + 1)));

const points: StandinPoint[] = [
  { id: 1, vector: vec(0), payload: { org_id: 'org-a' } },
  { id: 2, payload: { org_id: 'org-a' } }, // no vector
  { id: 3, vector: vec(1) }, // no payload
  ...HUGE.map((id, i) => ({ id, vector: vec(i + 1), payload: { org_id: 'org-b', n: i } })),
  { id: UPPER, vector: vec(2), payload: { org_id: 'org-c' } },
];

let unnamed: QdrantStandin;
let named: QdrantStandin;
const connector = new RealDatabaseConnector({ timeoutMs: 2_000 });

beforeAll(async () => {
  unnamed = await QdrantStandin.start({ collection: 'c', size: 4, distance: 'Dot', points, apiKey: KEY });
  named = await QdrantStandin.start({
    collection: 'n',
    size: 4,
    distance: 'Cosine',
    vectors: { text: { size: 4, distance: 'Cosine' }, image: { size: 4, distance: 'Euclid' } },
    sparseVectors: ['keywords'],
    points: [
      {
        id: 1,
        vector: { text: vec(0), keywords: { indices: [3], values: [0.5] } },
        payload: { org_id: 'a' },
      },
      { id: 2, vector: { image: vec(1) }, payload: { org_id: 'a' } },
    ],
  });
});
afterAll(async () => {
  await unnamed?.close();
  await named?.close();
});

async function call(
  standin: QdrantStandin,
  method: string,
  path: string,
  body?: unknown,
  key: string | null = KEY,
) {
  const res = await fetch(`${standin.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'api-key': key }) },
    body: body === undefined ? undefined : stringifyLossless(body),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text };
}

async function result<T extends z.ZodType>(
  standin: QdrantStandin,
  schema: T,
  path: string,
  body?: unknown,
): Promise<z.output<T>> {
  const answer = await call(standin, body === undefined ? 'GET' : 'POST', path, body);
  expect(answer.status, answer.text).toBe(200);
  const parsed = qdrantEnvelope(schema).parse(parseLossless(answer.text)) as { result: z.output<T> };
  return parsed.result;
}

async function refusal(standin: QdrantStandin, path: string, body: unknown, method = 'POST') {
  const answer = await call(standin, method, path, body);
  return { status: answer.status, error: QdrantErrorBody.parse(JSON.parse(answer.text)).status.error };
}

describe('the Qdrant stand-in answers as the specification says', () => {
  it('collection info: one unnamed vector, or named dense vectors and sparse ones', async () => {
    const one = await result(unnamed, QdrantCollectionInfo, '/collections/c');
    expect(one.config.params.vectors).toEqual({ size: 4, distance: 'Dot' });
    expect(one.config.params.sparse_vectors ?? null).toBeNull();
    expect(one.points_count).toBe(points.length);
    const many = await result(named, QdrantCollectionInfo, '/collections/n');
    expect(many.config.params.vectors).toEqual({
      text: { size: 4, distance: 'Cosine' },
      image: { size: 4, distance: 'Euclid' },
    });
    expect(Object.keys(many.config.params.sparse_vectors ?? {})).toEqual(['keywords']);
  });

  it('scroll: {} for a missing vector or payload, lower-case UUIDs, ids above 2^53 exact, integers before UUIDs', async () => {
    const page = await result(unnamed, QdrantScrollResult, '/collections/c/points/scroll', {
      limit: 100,
      with_payload: true,
      with_vector: true,
    });
    expect(page.points.map((p) => p.id)).toEqual([1, 2, 3, ...HUGE, UPPER.toLowerCase()]);
    expect(page.points[1]).toMatchObject({ id: 2, vector: {} });
    expect(page.points[2]).toMatchObject({ id: 3, payload: {} });
    expect(page.next_page_offset ?? null).toBeNull();
    // Paging by the exact next_page_offset, across ids a float64 cannot tell apart.
    const first = await result(unnamed, QdrantScrollResult, '/collections/c/points/scroll', { limit: 4 });
    expect(first.next_page_offset).toBe(HUGE[1]);
    const second = await result(unnamed, QdrantScrollResult, '/collections/c/points/scroll', {
      limit: 4,
      offset: BigInt(HUGE[1] as string),
    });
    expect(second.points.map((p) => p.id)).toEqual([HUGE[1], HUGE[2], UPPER.toLowerCase()]);
    // Named vectors come back as a map; `with_vector: [name]` gives only that one.
    const mapPage = await result(named, QdrantScrollResult, '/collections/n/points/scroll', {
      with_vector: true,
    });
    expect(mapPage.points[0]?.vector).toEqual({
      text: expect.any(Array),
      keywords: { indices: [3], values: [0.5] },
    });
    const textOnly = await result(named, QdrantScrollResult, '/collections/n/points/scroll', {
      with_vector: ['text'],
    });
    expect(textOnly.points.map((p) => p.vector)).toEqual([{ text: expect.any(Array) }, {}]);
  });

  it('count, query (exact, by a named vector) and retrieve parse', async () => {
    expect(await result(unnamed, QdrantCountResult, '/collections/c/points/count', { exact: true })).toEqual({
      count: points.length,
    });
    const hits = await result(unnamed, QdrantQueryResponse, '/collections/c/points/query', {
      query: vec(1),
      limit: 2,
      params: { exact: true },
    });
    expect(hits.points).toHaveLength(2);
    expect(unnamed.requests.at(-1)).toMatchObject({ exact: true });
    const byText = await result(named, QdrantQueryResponse, '/collections/n/points/query', {
      query: vec(0),
      using: 'text',
      limit: 5,
    });
    expect(byText.points.map((p) => p.id)).toEqual([1]);
    const got = await result(unnamed, QdrantRetrieveResult, '/collections/c/points', {
      ids: [BigInt(HUGE[2] as string), UPPER, 3, 999],
      with_payload: true,
    });
    expect(got.map((p) => p.id)).toEqual([HUGE[2], UPPER.toLowerCase(), 3]);
  });

  it('refuses bad limits, offsets and ids with 400 or 422, and a missing collection with 404', async () => {
    const scroll = '/collections/c/points/scroll';
    expect(await refusal(unnamed, scroll, { limit: 0 })).toMatchObject({ status: 422 });
    expect(await refusal(unnamed, scroll, { limit: -1 })).toMatchObject({ status: 400 });
    expect(await refusal(unnamed, scroll, { limit: 1.5 })).toMatchObject({ status: 400 });
    expect(await refusal(unnamed, scroll, { offset: 'not-an-id' })).toMatchObject({ status: 400 });
    expect(await refusal(unnamed, scroll, { offset: -5 })).toMatchObject({ status: 400 });
    expect(await refusal(unnamed, '/collections/c/points', { ids: [2n ** 64n] })).toMatchObject({
      status: 400,
    });
    expect(await refusal(unnamed, '/collections/c/points/query', { query: [1, 2] })).toMatchObject({
      status: 400,
      error: expect.stringContaining('expected dim: 4, got 2'),
    });
    expect(await refusal(unnamed, '/collections/other', undefined, 'GET')).toMatchObject({
      status: 404,
      error: "Not found: Collection `other` doesn't exist!",
    });
  });

  it('answers 401 in plain text without the right key', async () => {
    for (const key of [null, 'qk-wrong']) {
      const answer = await call(unnamed, 'GET', '/collections/c', undefined, key);
      expect(answer.status).toBe(401);
      expect(answer.type).toContain('text/plain');
      expect(() => JSON.parse(answer.text)).toThrow();
    }
  });

  it('upsert replaces a point with the same id (UUIDs in any case)', async () => {
    const up = await call(unnamed, 'PUT', '/collections/c/points', {
      points: [{ id: UPPER.toLowerCase(), vector: vec(3), payload: { org_id: 'org-z' } }],
    });
    expect(up.status).toBe(200);
    const [point] = await result(unnamed, QdrantRetrieveResult, '/collections/c/points', { ids: [UPPER] });
    expect(point?.payload).toEqual({ org_id: 'org-z' });
    expect((await result(unnamed, QdrantCountResult, '/collections/c/points/count', {})).count).toBe(
      points.length,
    );
    unnamed.setPoints(points);
  });
});

describe('the Qdrant adapter', () => {
  const source = (
    standin: QdrantStandin,
    options: { collection?: string; apiKey?: string; vector?: string } = {},
  ) => connector.qdrant({ url: standin.url, collection: options.collection ?? 'c', apiKey: KEY, ...options });

  it('reads collection info into dense and sparse vectors', async () => {
    expect(await source(named, { collection: 'n' }).collection()).toEqual({
      vectors: [
        { name: 'text', size: 4, distance: 'Cosine', multivector: false },
        { name: 'image', size: 4, distance: 'Euclid', multivector: false },
      ],
      sparseVectors: ['keywords'],
      pointsCount: 2,
    });
  });

  it('pages through ids above 2^53 exactly and retrieves them', async () => {
    const qdrant = source(unnamed);
    const seen: unknown[] = [];
    let offset: number | string | null = null;
    do {
      const page: Awaited<ReturnType<typeof qdrant.scroll>> = await qdrant.scroll(offset, 2);
      seen.push(...page.points.map((p) => p.id));
      offset = page.next;
    } while (offset !== null);
    expect(seen).toEqual([1, 2, 3, ...HUGE, UPPER.toLowerCase()]);
    expect((await qdrant.retrieve(HUGE)).map((p) => p.id)).toEqual(HUGE);
  });

  it('asks the configured named vector and an exact search when told', async () => {
    const qdrant = source(named, { collection: 'n', vector: 'text' });
    const page = await qdrant.scroll(null, 10);
    expect(page.points.map((p) => p.vector)).toEqual([{ text: expect.any(Array) }, {}]);
    expect(await qdrant.search(vec(0), 3, { exact: true })).toEqual([1]);
    expect(named.requests.at(-1)).toMatchObject({ using: 'text', exact: true });
  });

  it('a wrong key: QdrantAuthenticationError after one request', async () => {
    const before = unnamed.requests.length;
    await expect(source(unnamed, { apiKey: 'qk-wrong' }).collection()).rejects.toMatchObject({
      name: 'QdrantAuthenticationError',
      message: expect.stringContaining('HTTP 401'),
    });
    expect(unnamed.requests.length - before).toBe(1);
    // A key no header can carry is refused before any request, without quoting it.
    const error = await source(unnamed, { apiKey: 'qk-with\nnewline' })
      .collection()
      .catch((e: Error) => e);
    expect(error).toMatchObject({ name: 'QdrantAuthenticationError' });
    expect((error as Error).message.includes('qk-with')).toBe(false);
    expect(unnamed.requests.length - before).toBe(1);
  });

  it('names each refusal: missing collection, rejected request, malformed answer; transient ones retried', async () => {
    await expect(source(unnamed, { collection: 'gone' }).count()).rejects.toMatchObject({
      name: 'QdrantCollectionNotFoundError',
    });
    await expect(source(unnamed).scroll(null, 0)).rejects.toMatchObject({
      name: 'QdrantRequestRejectedError',
      message: expect.stringContaining('HTTP 422'),
    });
    for (const status of [429, 503]) {
      unnamed.failRequests(/\/points\/count$/, { status });
      await expect(source(unnamed).count()).rejects.toMatchObject({ name: 'VectorSourceUnavailableError' });
    }
    unnamed.answerMalformed(/\/points\/count$/, '{"result":{"count":"7"},"status":"ok","time":0}');
    await expect(source(unnamed).count()).rejects.toMatchObject({
      name: 'QdrantResponseInvalidError',
      message: expect.stringContaining('result.count'),
    });
    unnamed.answerMalformed(/\/points\/count$/, '<html>proxy error</html>');
    await expect(source(unnamed).count()).rejects.toMatchObject({
      name: 'QdrantResponseInvalidError',
      message: expect.stringContaining('not JSON'),
    });
    const closed = await QdrantStandin.start({ collection: 'c', size: 4, distance: 'Dot', points: [] });
    await closed.close();
    await expect(source(closed).count()).rejects.toMatchObject({ name: 'VectorSourceUnavailableError' });
  });
});

describe('lossless JSON', () => {
  it('keeps integers above 2^53 exactly, in and out, and leaves strings and floats alone', () => {
    const text = '{"id":18446744073709551615,"s":"9007199254740993","f":1.5e+300,"n":[-9007199254740993,7]}';
    const value = parseLossless(text) as Record<string, unknown>;
    expect(value).toEqual({
      id: 18446744073709551615n,
      s: '9007199254740993',
      f: 1.5e300,
      n: [-9007199254740993n, 7],
    });
    expect(stringifyLossless(value)).toBe(text);
    // What JSON.parse makes of it: another number.
    expect(BigInt(JSON.parse(text).id)).not.toBe(18446744073709551615n);
  });
});
