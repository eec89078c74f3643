import { z } from 'zod';
import { planCodeRollback, type ServicePlan } from '../shared/code-rollback-plan';
import { type ParameterPlan, planConfigRollback } from '../shared/config-rollback-plan';
import { ConfigurationError, InvalidInputError } from '../shared/errors';
import type { JournalEntry } from '../shared/journal';
import { readEvidence } from '../shared/last-known-good';
import type { ServiceKey, WatchedValue } from '../shared/ports';
import { type Deps, defineStep } from '../shared/step';

const Input = z.strictObject({
  kind: z.enum(['code', 'config']),
  select: z.strictObject({
    changeId: z.string().min(1).nullable(),
    since: z.iso.datetime().nullable(),
    targets: z.array(z.string().min(1)).nullable(),
  }),
  /** Emergency: roll back every target that has a known good, and leave (and list) those that have none. */
  emergency: z.boolean().default(false),
});

/** What the apply step does: deployments to make or stop, values to put, services to restart after. */
export interface RollbackActions {
  readonly deployments: readonly {
    readonly service: ServiceKey;
    readonly action: 'stop-deployment' | 'update-service';
    readonly deploymentId: string | null;
    readonly to: string;
  }[];
  readonly parameters: readonly { readonly key: string; readonly name: string; readonly to: string }[];
  readonly restart: readonly ServiceKey[];
}

export interface RollbackPlan {
  readonly kind: 'code' | 'config';
  /** rollback: something to change; nothing: every target already on its LKG; hold: refused, with why. */
  readonly action: 'rollback' | 'nothing' | 'hold';
  readonly why: string;
  /** The journal entry the rollback was asked to undo, if one was named. */
  readonly changeId: string | null;
  readonly targets: readonly (ServicePlan | ParameterPlan)[];
  readonly apply: RollbackActions;
  /** One line per target: what would change, from what to what, and why (or why not). */
  readonly changes: readonly string[];
  readonly summary: string;
}

const SERVICE_KEYS: readonly ServiceKey[] = ['api', 'sidecar'];

/**
 * Plans a code or config rollback from the change journal, the rollback alarms' history and what
 * runs now: each target back to its last known good (functions/shared/last-known-good.ts). It
 * changes nothing; `plan: true` stops after it, and the real run applies exactly this plan. A
 * target with nothing known good makes the whole plan a hold: a rollback never guesses.
 */
export const rollbackPlan = defineStep({
  name: 'rollback-plan',
  input: Input,
  async run(input, deps): Promise<RollbackPlan> {
    const { journal, alarmHistory } = deps;
    const cfg = deps.config.journal;
    if (!journal || !cfg || !alarmHistory) {
      throw new ConfigurationError(
        `${input.kind} rollback needs the change journal and the rollback alarms' history; environment ${deps.config.environment} has ${cfg ? 'no alarm history source' : 'no journal configured'}`,
      );
    }
    const { entries, history, options } = await readEvidence({
      journal,
      alarmHistory,
      environment: deps.config.environment,
      bakeMinutes: cfg.bakeMinutes,
      now: deps.clock.now(),
    });
    const subjects = selectSubjects(input, entries);
    const targets =
      input.kind === 'code'
        ? await codeTargets(deps, subjects, entries, history, options)
        : await configTargets(deps, subjects, entries, history, options);
    return planOf(input.kind, input.select.changeId, targets, input.emergency);
  },
});

/**
 * The keys the selection names (services for code, watched parameter keys for config), or null
 * when nothing was selected (every target then). A selection that matches nothing stays empty.
 */
function selectSubjects(input: z.infer<typeof Input>, entries: readonly JournalEntry[]): string[] | null {
  const prefix = input.kind === 'code' ? 'service:' : 'parameter:';
  const { changeId, since, targets } = input.select;
  if (targets) return [...targets];
  if (changeId) {
    const entry = entries.find((e) => e.entryId === changeId);
    if (!entry) {
      throw new InvalidInputError(
        `No journal entry ${changeId} in this environment (see \`switchback history\`). Nothing was changed.`,
      );
    }
    if (!entry.subject.startsWith(prefix)) {
      const other =
        entry.change.type === 'procedure'
          ? `a ${entry.change.procedure} change: its own rollback undoes it`
          : `a change of ${entry.subject}`;
      throw new InvalidInputError(
        `Journal entry ${changeId} is ${other}, not a ${input.kind} change. Nothing was changed.`,
      );
    }
    return [entry.subject.slice(prefix.length)];
  }
  if (since) {
    const from = Date.parse(since);
    return [
      ...new Set(
        entries
          .filter((e) => Date.parse(e.at) >= from && e.subject.startsWith(prefix))
          .map((e) => e.subject.slice(prefix.length)),
      ),
    ];
  }
  return null;
}

async function codeTargets(
  deps: Deps,
  subjects: readonly string[] | null,
  entries: readonly JournalEntry[],
  history: Parameters<typeof planCodeRollback>[0]['history'],
  options: Parameters<typeof planCodeRollback>[0]['options'],
): Promise<ServicePlan[]> {
  const wanted = subjects ?? SERVICE_KEYS;
  const unknown = wanted.filter((s) => !SERVICE_KEYS.includes(s as ServiceKey));
  if (unknown.length) {
    throw new InvalidInputError(
      `code-rollback controls the api and sidecar services; ${unknown.join(', ')} cannot be rolled back by it. Nothing was changed.`,
    );
  }
  const services = wanted as ServiceKey[];
  const current: Partial<Record<ServiceKey, Awaited<ReturnType<Deps['services']['describe']>>>> = {};
  for (const s of services) current[s] = await deps.services.describe(s);
  return planCodeRollback({ services, entries, history, current, options }).map((p) =>
    // A service the journal never saw change is left as it is, not held for lack of a known good.
    p.action === 'hold' && !entries.some((e) => e.subject === `service:${p.service}`)
      ? {
          service: p.service,
          action: 'nothing',
          from: p.from,
          to: p.from,
          undoes: [],
          reason: `the journal has no change of ${p.service}`,
        }
      : p,
  );
}

async function configTargets(
  deps: Deps,
  subjects: readonly string[] | null,
  entries: readonly JournalEntry[],
  history: Parameters<typeof planConfigRollback>[0]['history'],
  options: Parameters<typeof planConfigRollback>[0]['options'],
): Promise<ParameterPlan[]> {
  const watched = deps.config.journal?.watched ?? {};
  const store = deps.watched;
  if (!store) throw new ConfigurationError('config-rollback needs the watched parameter store');
  const keys = subjects ?? Object.keys(watched);
  const parameters = keys.map((key) => {
    const parameter = Object.hasOwn(watched, key) ? watched[key] : undefined;
    if (!parameter) throw new InvalidInputError(`${key} is not a watched parameter. Nothing was changed.`);
    return { key, parameter };
  });
  const current: Record<string, WatchedValue | undefined> = {};
  for (const { key, parameter } of parameters) current[key] = await store.get(parameter.name);
  return planConfigRollback({ parameters, entries, history, current, options });
}

function describe(t: ServicePlan | ParameterPlan): string {
  if ('service' in t) {
    switch (t.action) {
      case 'hold':
        return `${t.service}: HOLD, runs ${t.from}; ${t.reason}`;
      case 'nothing':
        return `${t.service}: nothing to do; ${t.reason}`;
      default:
        return `${t.service}: ${t.from} -> ${t.to} (${t.action}); ${t.reason}`;
    }
  }
  switch (t.action) {
    case 'hold':
      return `${t.key}: HOLD; ${t.reason}`;
    case 'nothing':
      return `${t.key}: nothing to do; ${t.reason}`;
    default:
      return `${t.key}: "${t.from}" (v${t.fromVersion}) -> "${t.to}"${t.restart.length ? `, then restart ${t.restart.join(', ')}` : ''}; ${t.reason}`;
  }
}

function planOf(
  kind: 'code' | 'config',
  changeId: string | null,
  targets: readonly (ServicePlan | ParameterPlan)[],
  emergency: boolean,
): RollbackPlan {
  const changes = targets.map(describe);
  const held = targets.filter((t) => t.action === 'hold');
  const deployments: RollbackActions['deployments'][number][] = [];
  const parameters: RollbackActions['parameters'][number][] = [];
  const restart = new Set<ServiceKey>();
  for (const t of targets) {
    if ('service' in t && (t.action === 'stop-deployment' || t.action === 'update-service')) {
      deployments.push({ service: t.service, action: t.action, deploymentId: t.deploymentId, to: t.to });
    } else if ('key' in t && t.action === 'restore') {
      parameters.push({ key: t.key, name: t.name, to: t.to });
      for (const s of t.restart) if (SERVICE_KEYS.includes(s as ServiceKey)) restart.add(s as ServiceKey);
    }
  }
  const apply = { deployments, parameters, restart: [...restart] };
  const what = kind === 'code' ? 'service' : 'parameter';
  const some = deployments.length + parameters.length > 0;
  const action = held.length && !(emergency && some) ? 'hold' : some ? 'rollback' : 'nothing';
  const left = held.length
    ? `; emergency: left as they are, nothing known good: ${held.map(describe).join(' | ')}`
    : '';
  const why =
    action === 'hold'
      ? `Nothing known good to go back to for ${held.length === 1 ? 'one' : held.length} ${what}${held.length === 1 ? '' : 's'}: ${held.map(describe).join(' | ')}`
      : action === 'nothing'
        ? `Every ${what} selected is already on its last known good (or was never changed): nothing to roll back`
        : `${deployments.length + parameters.length} ${what}${deployments.length + parameters.length === 1 ? '' : 's'} back to the last known good${left}`;
  return { kind, action, why, changeId, targets, apply, changes, summary: changes.join('\n') };
}
