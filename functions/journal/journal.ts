import { z } from 'zod';
import { ConfigurationError } from '../shared/errors';
import { type JournalEntry, newEntry } from '../shared/journal';
import type { ParameterVersion } from '../shared/ports';
import { type Deps, defineStep } from '../shared/step';
import { invalidReason, type JournalRuntimeConfig, watchedByName } from '../shared/watched-config';

/**
 * EventBridge's envelope, as AWS documents it (extra fields are kept out, never refused: AWS adds
 * fields over time).
 */
const Envelope = {
  version: z.string(),
  id: z.string().min(1),
  account: z.string(),
  time: z.iso.datetime(),
  region: z.string(),
  resources: z.array(z.string()),
};

/** `ECS Deployment State Change` (aws.ecs), e.g. SERVICE_DEPLOYMENT_IN_PROGRESS for a CI deploy. */
export const EcsDeploymentEvent = z.looseObject({
  ...Envelope,
  'detail-type': z.literal('ECS Deployment State Change'),
  source: z.literal('aws.ecs'),
  detail: z.looseObject({
    eventType: z.string(),
    eventName: z.enum([
      'SERVICE_DEPLOYMENT_IN_PROGRESS',
      'SERVICE_DEPLOYMENT_COMPLETED',
      'SERVICE_DEPLOYMENT_FAILED',
    ]),
    deploymentId: z.string().min(1),
    updatedAt: z.iso.datetime().optional(),
    reason: z.string().optional(),
  }),
});

/** `Parameter Store Change` (aws.ssm): operation, name, type; never a value. */
export const ParameterStoreEvent = z.looseObject({
  ...Envelope,
  'detail-type': z.literal('Parameter Store Change'),
  source: z.literal('aws.ssm'),
  detail: z.looseObject({
    operation: z.enum(['Create', 'Update', 'Delete', 'LabelParameterVersion']),
    name: z.string().min(1),
    type: z.enum(['String', 'StringList', 'SecureString']),
    description: z.string().optional(),
  }),
});

const Input = z.union([EcsDeploymentEvent, ParameterStoreEvent]);
type EcsDeploymentEvent = z.infer<typeof EcsDeploymentEvent>;
type ParameterStoreEvent = z.infer<typeof ParameterStoreEvent>;

export type JournalOutcome =
  | { recorded: true; entryId: string; subject: string }
  | { recorded: false; duplicate: true; entryId: string; subject: string }
  | { recorded: false; duplicate: false; ignored: string };

const STATE_OF = {
  SERVICE_DEPLOYMENT_IN_PROGRESS: 'IN_PROGRESS',
  SERVICE_DEPLOYMENT_COMPLETED: 'COMPLETED',
  SERVICE_DEPLOYMENT_FAILED: 'FAILED',
} as const;

/** EventBridge rule target: turns an ECS deployment or a Parameter Store change into a journal entry. */
export const journal = defineStep({
  name: 'journal',
  input: Input,
  async run(event, deps): Promise<JournalOutcome> {
    const cfg = journalConfig(deps);
    const entry =
      event.source === 'aws.ecs'
        ? await deploymentEntry(event, cfg, deps)
        : await parameterEntry(event, cfg, deps);
    if (typeof entry === 'string') {
      deps.log.info('journal: event ignored', { reason: entry, eventId: event.id });
      return { recorded: false, duplicate: false, ignored: entry };
    }
    const isNew = await requireStore(deps).put(entry);
    deps.log.info(isNew ? 'journal: entry recorded' : 'journal: duplicate event, nothing changed', {
      entryId: entry.entryId,
      subject: entry.subject,
    });
    return isNew
      ? { recorded: true, entryId: entry.entryId, subject: entry.subject }
      : { recorded: false, duplicate: true, entryId: entry.entryId, subject: entry.subject };
  },
});

export function journalConfig(deps: Pick<Deps, 'config'>): JournalRuntimeConfig {
  const cfg = deps.config.journal;
  if (!cfg) throw new ConfigurationError('This environment has no change journal configured');
  return cfg;
}

function requireStore(deps: Deps) {
  if (!deps.journal) throw new ConfigurationError('The journal step was given no journal store');
  return deps.journal;
}

/** `arn:aws:ecs:<region>:<account>:service/<cluster>/<service>` -> cluster and service. */
function serviceOfArn(arn: string): { cluster: string; service: string } | undefined {
  const m = /^arn:[^:]+:ecs:[^:]*:[^:]*:service\/([^/]+)\/([^/]+)$/.exec(arn);
  return m?.[1] && m[2] ? { cluster: m[1], service: m[2] } : undefined;
}

async function deploymentEntry(
  event: EcsDeploymentEvent,
  cfg: JournalRuntimeConfig,
  deps: Deps,
): Promise<JournalEntry | string> {
  const target = event.resources.map(serviceOfArn).find(Boolean);
  if (!target) return 'no ECS service ARN in the event resources';
  if (target.cluster !== deps.config.services.cluster)
    return `service ${target.service} is on cluster ${target.cluster}, not ${deps.config.services.cluster}`;
  const key = Object.entries(cfg.services).find(([, name]) => name === target.service)?.[0];
  if (!key) return `service ${target.service} is not a protected service`;
  if (!deps.deployments) throw new ConfigurationError('The journal step was given no deployment history');
  const at = event.detail.updatedAt ?? event.time;
  const resolved = await deps.deployments.resolve(target.service, event.detail.deploymentId, new Date(at));
  return newEntry({
    environment: deps.config.environment,
    at,
    source: 'aws.ecs',
    sourceEventId: event.id,
    kind: 'code',
    subject: `service:${key}`,
    actor: null,
    change: {
      type: 'deployment',
      service: key,
      serviceName: target.service,
      deploymentId: event.detail.deploymentId,
      serviceDeploymentArn: resolved.serviceDeploymentArn,
      state: STATE_OF[event.detail.eventName],
      rollback: /roll(ing)?[\s-]?back/i.test(event.detail.reason ?? ''),
      from: resolved.from,
      to: resolved.to,
    },
    now: deps.clock.now(),
    retentionDays: cfg.retentionDays,
  });
}

/**
 * The version an event is about: the newest one modified at or before the event's time (one second
 * of slack for rounding). The event carries no version, and events may arrive out of order, so
 * "the newest version now" would pin an early event to a later change.
 */
function versionAt(history: readonly ParameterVersion[], at: Date): ParameterVersion | undefined {
  const limit = at.getTime() + 1000;
  const before = history.filter((v) => v.modifiedAt.getTime() <= limit);
  return before[before.length - 1] ?? history[0];
}

async function parameterEntry(
  event: ParameterStoreEvent,
  cfg: JournalRuntimeConfig,
  deps: Deps,
): Promise<JournalEntry | string> {
  const found = watchedByName(cfg.watched, event.detail.name);
  if (!found) return `parameter ${event.detail.name} is not watched`;
  if (event.detail.operation === 'LabelParameterVersion')
    return `a label on ${found.parameter.name} changes no value`;
  if (!deps.parameterHistory) throw new ConfigurationError('The journal step was given no parameter history');
  const history =
    event.detail.operation === 'Delete' ? [] : await deps.parameterHistory.history(found.parameter.name);
  const current = versionAt(history, new Date(event.time));
  const previous = current
    ? history.filter((v) => v.version < current.version).pop()
    : history[history.length - 1];
  const secure =
    found.parameter.secure ||
    event.detail.type === 'SecureString' ||
    history.some((v) => v.type === 'SecureString');
  const value = (v: ParameterVersion | undefined) => (secure ? null : (v?.value ?? null));
  const toValue = value(current);
  return newEntry({
    environment: deps.config.environment,
    at: event.time,
    source: 'aws.ssm',
    sourceEventId: event.id,
    kind: 'config',
    subject: `parameter:${found.key}`,
    actor: current?.modifiedBy ?? null,
    change: {
      type: 'parameter',
      key: found.key,
      name: found.parameter.name,
      operation: event.detail.operation,
      parameterType: secure ? 'SecureString' : event.detail.type,
      fromVersion: previous?.version ?? null,
      toVersion: current?.version ?? null,
      fromValue: value(previous),
      toValue,
      invalid: toValue === null ? null : invalidReason(found.parameter.validator, toValue),
    },
    now: deps.clock.now(),
    retentionDays: cfg.retentionDays,
  });
}
