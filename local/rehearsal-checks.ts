import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GetObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { SwitchbackError } from '../functions/shared/errors';
import { allStates, PROCEDURE_NAMES, PROCEDURES, type ProcedureName } from '../procedures';
import type { ExecutionRecord, Notification } from './engine';

/** A rehearsal option that cannot be honoured; the rehearsal starts nothing. */
export class RehearsalOptionError extends SwitchbackError {}
/** `--fail-at` names a state the procedure does not have (or one that cannot fail: not a Task). */
export class UnknownStateError extends RehearsalOptionError {}

/** Procedures run by the engine itself, never rehearsed on their own (the janitor follows a failed execution). */
export const NOT_REHEARSED: Readonly<Partial<Record<ProcedureName, string>>> = {
  'lock-janitor': 'started by the engine whenever a procedure that takes the lock ends badly',
};

/** The Task states of a procedure (inside Map and Parallel too): the ones `--fail-at` can break. */
export function failableStates(procedure: ProcedureName): string[] {
  return [
    ...new Set(
      allStates(PROCEDURES[procedure].States)
        .filter(([, s]) => s.Type === 'Task')
        .map(([name]) => name),
    ),
  ].sort();
}

/** Seed 003's phases unless the input replaces them. */
function phaseCount(input: unknown): number {
  const phases = (input as { phases?: unknown } | undefined)?.phases;
  return Array.isArray(phases) ? phases.length : 4;
}

/**
 * Refuses what a rehearsal cannot do, before anything starts: an unknown procedure, a `--fail-at`
 * state the procedure does not have (listing those it has), an error spike outside the rollout's
 * phases or on another procedure.
 */
export function checkRehearsalOptions(o: {
  readonly procedure: string;
  readonly rehearsable: readonly string[];
  readonly failAt?: string;
  /** A state that fails once with its integration's transient error (its Retry absorbs it). */
  readonly failOnceAt?: string;
  readonly errorSpikeAtPhase?: number;
  readonly input?: unknown;
}): void {
  if (!o.rehearsable.includes(o.procedure)) {
    const why = NOT_REHEARSED[o.procedure as ProcedureName];
    throw new RehearsalOptionError(
      `Cannot rehearse "${o.procedure}"${why ? ` (${why})` : ''}; choose one of: ${o.rehearsable.join(', ')}`,
    );
  }
  const procedure = o.procedure as ProcedureName;
  for (const [option, state] of [
    ['--fail-at', o.failAt],
    ['--fail-once-at', o.failOnceAt],
  ] as const) {
    if (state === undefined) continue;
    const states = failableStates(procedure);
    if (!states.includes(state)) {
      const exists = allStates(PROCEDURES[procedure].States).some(([name]) => name === state);
      throw new UnknownStateError(
        `${procedure} has ${exists ? `a state "${state}", but it is not a Task and cannot fail` : `no state "${state}"`}; ${option} takes one of its Task states: ${states.join(', ')}`,
      );
    }
  }
  if (o.errorSpikeAtPhase !== undefined) {
    if (procedure !== 'feature-rollout')
      throw new RehearsalOptionError(`--error-spike-at applies to feature-rollout only, not ${procedure}`);
    const n = phaseCount(o.input);
    if (!Number.isInteger(o.errorSpikeAtPhase) || o.errorSpikeAtPhase < 1 || o.errorSpikeAtPhase > n)
      throw new RehearsalOptionError(
        `--error-spike-at takes a phase number from 1 to ${n}, not ${String(o.errorSpikeAtPhase)}`,
      );
  }
}

/** Every procedure a rehearsal can run, from the one registry. */
export function rehearsableProcedures(defaults: Readonly<Record<string, unknown>>): ProcedureName[] {
  return PROCEDURE_NAMES.filter((n) => n in defaults);
}

/**
 * Exit codes of `switchback rehearse` (documented in the README):
 * 0 the procedure ended as designed for the run: it succeeded, or the failure the run injected
 *   (`--fail-at`, `--error-spike-at`) was handled by the procedure (nothing changed, rolled back
 *   and verified, or held for an operator with maintenance on when its own rollback was broken);
 * 1 it did not: a failure nobody asked for, an injected failure that was never reached, or one the
 *   procedure did not handle; 2 a bad option (nothing started); 130/143 interrupted (SIGINT/SIGTERM).
 */
export const EXIT = { asDesigned: 0, notAsDesigned: 1, usage: 2, interrupted: 130, terminated: 143 } as const;

/** Outcomes a procedure reaches when it handled a failure (see its notices). */
const HANDLED_FAILURE =
  /^(rolled-back|preflight-failed|backup-failed|restore-failed-recovered|restore-refused|rollback-refused|rollback-failed|disable-failed|rollout-refused|rollout-interrupted|feature-disabled|dry-run-failed)$/;
/** Handled, but an operator must act: the environment is held (maintenance on, lock kept). */
const HELD = /^(rollback-failed|disable-failed)$/;

export interface Verdict {
  readonly asDesigned: boolean;
  readonly exitCode: number;
  readonly text: string;
}

export function verdictOf(o: {
  readonly execution: ExecutionRecord;
  readonly outcome: string;
  readonly failAt?: string;
  readonly errorSpikeAtPhase?: number;
  readonly executions: readonly ExecutionRecord[];
}): Verdict {
  const { execution, outcome } = o;
  const ok = (text: string): Verdict => ({ asDesigned: true, exitCode: EXIT.asDesigned, text });
  const bad = (text: string): Verdict => ({ asDesigned: false, exitCode: EXIT.notAsDesigned, text });
  if (execution.status === 'ABORTED') return bad('interrupted before the procedure ended');
  if (o.failAt !== undefined) {
    const hit = execution.steps.find((s) => s.state === o.failAt && s.error === 'InjectedFailureError');
    if (!hit)
      return bad(
        `the failure injected at ${o.failAt} was never reached (the run took another path); ${outcome}`,
      );
    if (!HANDLED_FAILURE.test(outcome))
      return bad(`the failure injected at ${o.failAt} was not handled by the procedure (${outcome})`);
    if (HELD.test(outcome))
      return ok(
        `as designed: the failure at ${o.failAt} broke the rollback itself; the environment is held for an operator (${outcome})`,
      );
    return ok(`as designed: the failure injected at ${o.failAt} was handled (${outcome})`);
  }
  if (o.errorSpikeAtPhase !== undefined) {
    return outcome === 'rolled-back'
      ? ok(`as designed: the gate caught the error spike from phase ${o.errorSpikeAtPhase} and rolled back`)
      : bad(`the error spike from phase ${o.errorSpikeAtPhase} was not rolled back (${outcome})`);
  }
  return execution.status === 'SUCCEEDED'
    ? ok(`as designed: ${outcome}`)
    : bad(`failed with nothing injected: ${outcome} (${execution.error ?? execution.status})`);
}

/** Rehearsal folders are named by their start time; only those are pruned. */
const RUN_DIR = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

/**
 * Keeps the newest `keep` rehearsal folders under `root` (by name, which is the start time) and
 * removes the others; folders with other names are never touched. Returns the removed paths.
 */
export function pruneRehearsals(root: string, keep: number): string[] {
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => RUN_DIR.test(n) && statSync(join(root, n)).isDirectory());
  } catch {
    return [];
  }
  const removed = names
    .sort()
    .reverse()
    .slice(Math.max(0, keep))
    .map((n) => join(root, n));
  for (const dir of removed) rmSync(dir, { recursive: true, force: true });
  return removed;
}

/** Prefixes of what procedures write for people to read (incident reports, rollout logs, ...). */
const REPORT_PREFIXES = ['incidents/', 'rollouts/', 'database-cutovers/', 'change-records/', 'drills/'];

/**
 * Copies the reports the procedures wrote to the local S3 as plain files under `<dir>/reports/`
 * (the stand-in's own storage keeps them as `*._S3rver_object`). Returns the files written.
 */
export async function exportReports(client: S3Client, bucket: string, dir: string): Promise<string[]> {
  const written: string[] = [];
  for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket })) {
    for (const object of page.Contents ?? []) {
      const key = object.Key;
      if (!key || !REPORT_PREFIXES.some((p) => key.startsWith(p)) || key.includes('..')) continue;
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const file = join(dir, 'reports', key);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, (await got.Body?.transformToByteArray()) ?? new Uint8Array());
      written.push(file);
    }
  }
  return written.sort();
}

export type { Notification };
