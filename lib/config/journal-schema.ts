import { z } from 'zod';
import { DRILL_MARKER_KEY, drillMarkerName } from '../../functions/shared/drill-config';
import { WatchedParameter, type WatchedParameters } from '../../functions/shared/watched-config';

const ServiceKey = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a key such as worker: a-z, 0-9 and "-"');
const ParameterKey = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'a key such as mem0/ENABLE_CACHING');

/** A watched parameter as the stage writes it: `name` defaults to `<appParameterPrefix>/<key>`. */
const WatchedParameterInput = WatchedParameter.extend({ name: WatchedParameter.shape.name.optional() });

/**
 * The stage's `journal` section: the change journal, the services it protects, the app's
 * parameters it watches and the bake period of "last known good".
 */
export const JournalStageConfig = z.strictObject({
  retentionDays: z
    .number()
    .int()
    .min(1)
    .max(3650)
    .default(90)
    .describe('Days a journal entry is kept (DynamoDB TTL).'),
  bakeMinutes: z
    .number()
    .int()
    .min(1)
    .max(1440)
    .default(30)
    .describe(
      "Minutes a state must stay in service with no rollback alarm in ALARM to be known good (seed 000's first 30 minutes).",
    ),
  services: z
    .record(ServiceKey, z.string().min(1))
    .default({})
    .describe(
      "Further ECS services to protect, by key -> service name on the stage's cluster (api and sidecar always are).",
    ),
  appParameterPrefix: z
    .string()
    .regex(/^(\/[A-Za-z0-9_.-]+)+$/, 'an SSM path such as /memory/prod')
    .optional()
    .describe("Prefix of the app's own parameters. Default: `/memory/<name>`."),
  watched: z
    .record(ParameterKey, WatchedParameterInput.nullable())
    .default({})
    .describe("Watched parameters by key, over seed 001's six; `null` drops a seed one."),
});
export type JournalStageConfig = z.infer<typeof JournalStageConfig>;

/**
 * Seed 001's switches on both memory services, read from their `.env` at start (the seed's quick
 * rollback edits the file and restarts): mem0 is the stage's sidecar, the MCP server its API.
 */
export const SEED_WATCHED: Readonly<Record<string, Omit<WatchedParameter, 'name'> & { name?: string }>> =
  Object.fromEntries(
    (
      [
        ['mem0', 'sidecar'],
        ['mcp', 'api'],
      ] as const
    ).flatMap(([prefix, service]) => [
      [
        `${prefix}/ENABLE_CACHING`,
        { validator: { type: 'boolean' }, readers: [{ service, reads: 'at-start' }], secure: false },
      ],
      [
        `${prefix}/AUTONOMOUS_MODE`,
        { validator: { type: 'boolean' }, readers: [{ service, reads: 'at-start' }], secure: false },
      ],
      [
        `${prefix}/WORKERS`,
        {
          validator: { type: 'integer', min: 1, max: 64 },
          readers: [{ service, reads: 'at-start' }],
          secure: false,
        },
      ],
    ]),
  );

interface StageShape {
  readonly name: string;
  readonly services: { readonly api: string; readonly sidecar: string };
  readonly journal: JournalStageConfig;
}

/** The protected services by key: api, sidecar and the stage's extra ones. */
export function protectedServices(stage: StageShape): Record<string, string> {
  return { api: stage.services.api, sidecar: stage.services.sidecar, ...stage.journal.services };
}

/** Seed 001's watched parameters with the stage's overrides, each with its full SSM name. */
export function watchedParameters(stage: StageShape): WatchedParameters {
  const prefix = stage.journal.appParameterPrefix ?? `/memory/${stage.name}`;
  const out: WatchedParameters = {};
  const merged = { ...SEED_WATCHED, ...stage.journal.watched };
  for (const [key, p] of Object.entries(merged)) {
    if (p === null) continue;
    out[key] = { ...p, name: p.name ?? `${prefix}/${key}` };
  }
  // The drill marker: Switchback's own parameter that a config drill changes and the router puts
  // back; read per request by nothing that serves users, so its change and rollback are harmless.
  out[DRILL_MARKER_KEY] = {
    name: drillMarkerName(stage.name),
    validator: { type: 'boolean' },
    readers: [{ service: 'api', reads: 'per-request' }],
    secure: false,
  };
  return out;
}

/** Cross-field checks: readers name protected services, names are unique, ranges are ranges. */
export function checkJournal(stage: StageShape, ctx: z.RefinementCtx): void {
  const services = protectedServices(stage);
  const seen = new Map<string, string>();
  for (const [key, p] of Object.entries(watchedParameters(stage))) {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path: ['journal', 'watched', key, ...path], message });
    p.readers.forEach((r, i) => {
      if (!(r.service in services))
        issue(
          ['readers', i, 'service'],
          `"${r.service}" is not a protected service (${Object.keys(services).join(', ')})`,
        );
    });
    if (p.validator.type === 'integer' && p.validator.min > p.validator.max)
      issue(['validator', 'min'], 'must not exceed max');
    const other = seen.get(p.name);
    if (other) issue(['name'], `${p.name} is also watched as ${other}`);
    seen.set(p.name, key);
  }
}
