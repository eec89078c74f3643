import { z } from 'zod';
import { SUBJECT_MAX } from '../shared/sns';
import { defineStep } from '../shared/step';

/**
 * A notice as the procedures put it in `$.notice`: the outcome, a subject, a summary of what
 * happened (written from what was observed) and the procedure's own fields. `next` says what to do
 * next when the procedure knows better than its outcome does.
 */
const Notice = z.looseObject({
  outcome: z.string().min(1),
  subject: z.string(),
  summary: z.string(),
  environment: z.string().optional(),
  execution: z.string().optional(),
  next: z.string().optional(),
});
type Notice = z.infer<typeof Notice>;

const Input = z.strictObject({
  notice: Notice,
  /** The execution that sends it (`$$.Execution.Id`): its console page is linked. */
  execution: z.string().min(1),
});

/** Subjects stay under SNS's limit; email clients show only ASCII reliably, so anything else is replaced. */
export { SUBJECT_MAX };

/** What is published: the subject, the plain-text body, and the notice as JSON for machines. */
export interface ComposedNotice {
  readonly subject: string;
  /** The body people read, with the machine-readable notice as its clearly separated last part. */
  readonly text: string;
  /** The notice as JSON, also sent as the `notice` message attribute. */
  readonly notice: string;
}

/** The line that separates the body people read from the notice as JSON. */
export const JSON_PART_MARKER = '---- machine-readable notice (JSON) ----';

/** Fields that are the notice's frame, not the state it reports. */
const FRAME = new Set(['outcome', 'subject', 'summary', 'environment', 'execution', 'next']);

type Kind =
  | 'done'
  | 'rolled-back'
  | 'unchanged'
  | 'not-rolled-back'
  | 'held'
  | 'approval'
  | 'paused'
  | 'rollout-paused';

/** What each outcome means for the person reading it; unknown outcomes are read as `held`. */
const KINDS: Record<string, Kind> = {
  'cutover-succeeded': 'done',
  'rollout-completed': 'done',
  'dry-run-completed': 'done',
  'feature-disabled': 'done',
  restored: 'done',
  'already-active': 'unchanged',
  deduplicated: 'unchanged',
  ignored: 'unchanged',
  'lock-released': 'unchanged',
  'rolled-back': 'rolled-back',
  'restore-failed-recovered': 'rolled-back',
  'preflight-failed': 'unchanged',
  'rollout-refused': 'unchanged',
  'restore-refused': 'unchanged',
  'rollback-refused': 'not-rolled-back',
  'dry-run-failed': 'unchanged',
  'rollout-interrupted': 'unchanged',
  'approval-needed': 'approval',
  paused: 'paused',
  'rollout-paused': 'rollout-paused',
  'rollback-failed': 'held',
  'disable-failed': 'held',
  'lock-kept': 'held',
  'report-failed': 'held',
  'backup-failed': 'held',
};

/** What to do next, by kind, when the notice does not say. */
function nextSteps(kind: Kind, env: string, execution: string): string[] {
  const describe = `switchback describe ${execution} --env ${env}`;
  switch (kind) {
    case 'done':
      return [
        `Nothing is required. Keep an eye on the ${env} dashboard while the change bakes.`,
        `switchback status --env ${env} shows the flags, the lock and what runs now.`,
      ];
    case 'unchanged':
      return [
        'Nothing was changed by this execution. Read why above.',
        `If the change is still wanted, fix what the summary names and start it again; ${describe} shows each step.`,
      ];
    case 'rolled-back':
      return [
        'The environment is back on the state recorded before the change, as verified above.',
        `Find the cause before trying again: ${describe} shows each step and what it found.`,
      ];
    case 'not-rolled-back':
      return [
        'Nothing was rolled back: what the rollback was asked to undo is still in place.',
        `Fix what the summary names and start the rollback again, or roll back by hand; ${describe} shows each step.`,
      ];
    case 'approval':
      return [
        `Approve the next phase: switchback approve --env ${env} --execution ${execution}`,
        'Or reject it (the rollout rolls back and the feature is disabled): add --reject. Without an answer in time it rolls back.',
      ];
    case 'paused':
      return [
        'Automation is paused (the kill switch): nothing was rolled back automatically.',
        `Act by hand, or resume automation (switchback resume --env ${env} --reason ...) and start the rollback.`,
      ];
    case 'rollout-paused':
      return [
        'The rollout stopped advancing; the flag stays at the value its last passed phase set, as stated above.',
        `When automation may act again: switchback resume --env ${env} --reason ..., then start a rollout from this percentage; or turn the feature off: switchback start feature-disable --env ${env}.`,
      ];
    case 'held':
      return [
        'ACTION NEEDED: an operator must look now. Nothing more will be done automatically.',
        `Check the flags, what the API serves and the lock (switchback status --env ${env}) and the execution (${describe}).`,
        `Once the environment is put right by hand: switchback unlock --env ${env} --owner <the lock owner shown by status>.`,
      ];
  }
}

/** The Step Functions console page of an execution (its region is the ARN's fourth field). */
export function executionConsoleUrl(executionArn: string): string | undefined {
  const region = executionArn.split(':')[3] ?? '';
  // A rehearsal's executions are in no AWS region: no console has them.
  if (!/^arn:aws[a-z-]*:states:[^:]+:\d{12}:execution:/.test(executionArn)) return undefined;
  if (!/^[a-z]{2}(-gov)?-[a-z]+-\d+$/.test(region)) return undefined;
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** The S3 console page of an `s3://bucket/key` object (the console finds the bucket's region). */
export function objectConsoleUrl(uri: string): string | undefined {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m) return undefined;
  return `https://console.aws.amazon.com/s3/object/${m[1]}?prefix=${encodeURIComponent(m[2] as string)}`;
}

/** The subject: environment first, ASCII only, one line, under SNS's limit. */
export function subjectOf(notice: Notice, env: string): string {
  // Procedures write "Switchback: ...", the incident report "Switchback <env>: ...".
  const what = notice.subject.replace(/^Switchback(?: [\w.-]+)?:\s*/, '').trim() || notice.outcome;
  const line = `Switchback ${env}: ${what}`.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return line.length <= SUBJECT_MAX ? line : `${line.slice(0, SUBJECT_MAX - 3)}...`;
}

const scalar = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * `key: value` lines of the notice's own fields: nested objects flattened (`report.json`), a list
 * of objects one line per item (`flags[0]: name=memory/provider, value=native, version=3`).
 */
function fieldLines(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) {
    if (!value.some((v) => v !== null && typeof v === 'object'))
      return [`  ${prefix}: ${value.map(scalar).join(', ')}`];
    return value.map(
      (v, i) =>
        `  ${prefix}[${i}]: ${
          v !== null && typeof v === 'object' && !Array.isArray(v)
            ? Object.entries(v as Record<string, unknown>)
                .map(([k, x]) => `${k}=${scalar(x)}`)
                .join(', ')
            : scalar(v)
        }`,
    );
  }
  if (value === null || typeof value !== 'object') return [`  ${prefix}: ${scalar(value)}`];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
    prefix === '' && FRAME.has(k) ? [] : fieldLines(v, prefix ? `${prefix}.${k}` : k),
  );
}

/** Every string field of the notice, with its path (`report.markdown`). */
function strings(value: unknown, path = ''): { readonly field: string; readonly value: string }[] {
  if (typeof value === 'string') return [{ field: path, value }];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
    strings(v, path ? `${path}.${k}` : k),
  );
}

/**
 * Composes the notification from the notice: a subject that says what happened in which
 * environment, and a plain-text body (what happened, the state now as the procedure observed and
 * reported it, what to do next, console links to the execution and to any report or record the
 * notice names), ending with the notice as JSON after a separator line. It never fails on a
 * notice's content: an unknown outcome is read as needing an operator.
 */
export function renderNotice(notice: Notice, execution: string): ComposedNotice {
  const env = notice.environment ?? 'unknown';
  const kind = KINDS[notice.outcome] ?? 'held';
  const fields = fieldLines(notice);
  // The sending execution, then every other execution and S3 object the notice names.
  const links = [
    ...[executionConsoleUrl(execution)].filter(Boolean).map((u) => `  execution: ${u}`),
    ...strings(notice)
      .filter((f) => !FRAME.has(f.field))
      .map((f) => ({
        ...f,
        url: f.value.startsWith('s3://') ? objectConsoleUrl(f.value) : executionConsoleUrl(f.value),
      }))
      .filter((f) => f.url)
      .map((f) => `  ${f.field}: ${f.url}`),
  ];
  const next = notice.next ? [notice.next] : nextSteps(kind, env, execution);
  const body = [
    subjectOf(notice, env),
    '',
    'What happened',
    `  ${notice.summary}`,
    '',
    'State now and details (as the procedure observed them)',
    `  outcome: ${notice.outcome}`,
    `  environment: ${env}`,
    ...fields,
    '',
    'What to do next',
    ...next.map((s) => `  - ${s}`),
    '',
    'Links',
    ...(links.length
      ? links
      : ['  (no console link: the execution is not in an AWS region, e.g. a rehearsal)']),
    `  execution ARN: ${execution}`,
  ];
  const json = JSON.stringify({ ...notice, execution: notice.execution ?? execution });
  return {
    subject: subjectOf(notice, env),
    text: `${body.join('\n')}\n\n${JSON_PART_MARKER}\n${json}\n`,
    notice: json,
  };
}

export const composeNotice = defineStep({
  name: 'compose-notice',
  input: Input,
  async run({ notice, execution }): Promise<ComposedNotice> {
    return renderNotice(notice, execution);
  },
});
