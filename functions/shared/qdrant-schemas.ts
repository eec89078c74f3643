import { z } from 'zod';

/**
 * What Qdrant answers, as its published OpenAPI specification (v1.19) describes it, for every
 * request the database cutover makes. The adapter parses each answer with these schemas and
 * refuses one it does not understand; the stand-in's contract test runs the same schemas.
 * Only the fields the cutover reads are required; the others may be present or not.
 *
 * Bodies are read with `parseLossless`: integers above 2^53 arrive as `bigint`.
 */

const U64_MAX = 2n ** 64n - 1n;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * `ExtendedPointId`: an unsigned 64-bit integer or a UUID. Integers a float64 holds exactly stay
 * numbers; larger ones become their decimal digits (never rounded); UUIDs are lower-cased.
 */
export const QdrantPointId = z.union([
  z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  z
    .bigint()
    .min(0n)
    .max(U64_MAX)
    .transform((n) => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString())),
  z
    .string()
    .regex(UUID, 'a UUID')
    .transform((s) => s.toLowerCase()),
]);

const Float = z.number();
const DenseVector = z.array(Float);
const MultiVector = z.array(DenseVector);
/** `SparseVector`: unique indices and their values, of the same length. */
export const SparseVector = z.object({
  indices: z.array(z.number().int().min(0)),
  values: z.array(Float),
});
/** `VectorOutput`: one named vector as stored. */
const VectorOutput = z.union([DenseVector, SparseVector, MultiVector]);
/**
 * `VectorStructOutput`: the unnamed dense vector, an unnamed multivector, or a map of named
 * vectors; a point without vectors answers `{}`.
 */
export const VectorStructOutput = z.union([DenseVector, MultiVector, z.record(z.string(), VectorOutput)]);

/** Payload values are any JSON; integers above 2^53 in them are read as the nearest float64. */
const Payload = z.record(z.string(), z.unknown()).transform((p) => numbersOnly(p) as Record<string, unknown>);

function numbersOnly(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(numbersOnly);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, numbersOnly(v)]));
  return value;
}

/** `Record`: a point as scroll and retrieve answer it. */
export const QdrantRecord = z.object({
  id: QdrantPointId,
  payload: Payload.nullish(),
  vector: VectorStructOutput.nullish(),
});

/** `ScoredPoint`: a point as query answers it. */
export const QdrantScoredPoint = z.object({
  id: QdrantPointId,
  version: z.union([z.number().int().min(0), z.bigint()]),
  score: Float,
  payload: Payload.nullish(),
  vector: VectorStructOutput.nullish(),
});

export const QdrantDistance = z.enum(['Cosine', 'Euclid', 'Dot', 'Manhattan']);

/** `VectorParams`: one dense vector's size and distance (and, for a multivector, its config). */
export const QdrantVectorParams = z.object({
  size: z.number().int().min(1),
  distance: QdrantDistance,
  multivector_config: z.object({ comparator: z.string() }).nullish(),
});

/** `CollectionInfo`: `config.params.vectors` is one `VectorParams` (unnamed) or a map of named ones. */
export const QdrantCollectionInfo = z.object({
  status: z.enum(['green', 'yellow', 'grey', 'red']),
  points_count: z.number().int().min(0).nullish(),
  config: z.object({
    params: z.object({
      vectors: z.union([QdrantVectorParams, z.record(z.string(), QdrantVectorParams)]).optional(),
      sparse_vectors: z.record(z.string(), z.object({}).loose()).nullish(),
    }),
  }),
});

/** `ScrollResult`: a page and the id to read the next one from (null or absent on the last page). */
export const QdrantScrollResult = z.object({
  points: z.array(QdrantRecord),
  next_page_offset: QdrantPointId.nullish(),
});

export const QdrantCountResult = z.object({ count: z.number().int().min(0) });

/** `QueryResponse` of `POST /points/query`. */
export const QdrantQueryResponse = z.object({ points: z.array(QdrantScoredPoint) });

/** Retrieve (`POST /points`) answers a bare array of records. */
export const QdrantRetrieveResult = z.array(QdrantRecord);

/** Every successful answer: `{ result, status: "ok", time }`. */
export function qdrantEnvelope<T extends z.ZodType>(result: T) {
  return z.object({ result, status: z.literal('ok'), time: z.number().optional() });
}

/** An error answer with a JSON body: `{ status: { error }, time }` (401 answers plain text instead). */
export const QdrantErrorBody = z.object({
  status: z.object({ error: z.string() }),
  time: z.number().optional(),
});

export type QdrantCollectionInfo = z.infer<typeof QdrantCollectionInfo>;
export type QdrantRecord = z.infer<typeof QdrantRecord>;
