import { describe, expect, it } from 'vitest';
import {
  composeNotice,
  JSON_PART_MARKER,
  renderNotice,
  SUBJECT_MAX,
} from '../../functions/compose-notice/compose-notice';
import { InvalidInputError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { fakeDeps } from '../support/fakes';

const EXEC = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-prod-provider-cutover:chg-42';
const ROLLBACK = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-prod-provider-rollback:rb-1';
const CONSOLE = `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${EXEC}`;

/** Notices as the procedures' `notice()` states write them (provider cutover, backup). */
const NOTICES = {
  succeeded: {
    outcome: 'cutover-succeeded',
    environment: 'prod',
    execution: EXEC,
    subject: 'Switchback: provider cutover succeeded',
    summary: 'Memory provider switched to http (http://sidecar:8000) and verified. Lock released.',
    changeId: 'chg-42',
  },
  rolledBack: {
    outcome: 'rolled-back',
    environment: 'prod',
    execution: EXEC,
    subject: 'Switchback: provider cutover failed and was rolled back',
    summary:
      'VerifyMemoryThroughApi failed (SmokeTestError: write via API returned 500). Rolled back to native from the change record and verified. Lock released.',
    changeId: 'chg-42',
    failedStep: 'SmokeTestError',
    rollbackExecution: ROLLBACK,
    flags: [
      { name: 'memory/provider', value: 'native', version: 3, changed: true },
      { name: 'maintenance-mode', value: 'off', version: 1, changed: false },
    ],
  },
  held: {
    outcome: 'rollback-failed',
    environment: 'prod',
    execution: EXEC,
    subject: 'Switchback: ACTION NEEDED - rollback could not verify',
    summary:
      'The rollback did not verify (HealthCheckError). Observed: maintenance-mode flag on; the API serves maintenance; the environment lock is HELD (needs-operator).',
    maintenanceMode: 'on',
    apiMaintenance: 'on',
    lock: 'held',
    lockStatus: 'needs-operator',
  },
  failed: {
    outcome: 'backup-failed',
    environment: 'prod',
    execution: EXEC,
    subject: 'Switchback: backup failed',
    summary: 'Backup pg-1 of postgres memories in prod failed: BackupVerificationError: checksum differs',
    backupId: 'pg-1',
    error: 'BackupVerificationError',
  },
  refused: {
    outcome: 'preflight-failed',
    environment: 'prod',
    execution: EXEC,
    subject: 'Switchback: provider cutover stopped before any change',
    summary: 'Preflight failed: the sidecar /health answered HTTP 503. Nothing was changed. Lock released.',
  },
} as const;

const sections = (text: string) => text.split(JSON_PART_MARKER)[0] as string;

describe('compose-notice: the notification people read', () => {
  it('succeeded: says so in the subject, nothing to do, the console link, and the notice as JSON', () => {
    const out = renderNotice(NOTICES.succeeded, EXEC);
    expect(out.subject).toBe('Switchback prod: provider cutover succeeded');
    const body = sections(out.text);
    expect(body).toContain(`What happened\n  ${NOTICES.succeeded.summary}`);
    expect(body).toContain('  changeId: chg-42');
    expect(body).toMatch(/What to do next\n {2}- Nothing is required\./);
    expect(body).toContain(`  execution: ${CONSOLE}`);
    // The second part is the notice itself, as JSON, after the separator line.
    const json = out.text.split(`${JSON_PART_MARKER}\n`)[1] as string;
    expect(JSON.parse(json)).toEqual(NOTICES.succeeded);
    expect(JSON.parse(out.notice)).toEqual(NOTICES.succeeded);
  });

  it('rolled back and verified: back on the recorded state, find the cause before retrying', () => {
    const out = renderNotice(NOTICES.rolledBack, EXEC);
    expect(out.subject).toBe('Switchback prod: provider cutover failed and was rolled back');
    const body = sections(out.text);
    expect(body).toContain('back on the state recorded before the change, as verified above');
    expect(body).toContain(`switchback describe ${EXEC} --env prod`);
    expect(body).toContain('  failedStep: SmokeTestError');
    // A list of objects reads one line per item; the rollback's execution is linked too.
    expect(body).toContain(
      '  flags[0]: name=memory/provider, value=native, version=3, changed=true\n  flags[1]: name=maintenance-mode, value=off, version=1, changed=false',
    );
    expect(body).toContain(
      `  rollbackExecution: https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${ROLLBACK}`,
    );
  });

  it('held for an operator: ACTION NEEDED, the state as observed, how to free the lock', () => {
    const out = renderNotice(NOTICES.held, EXEC);
    expect(out.subject).toBe('Switchback prod: ACTION NEEDED - rollback could not verify');
    const body = sections(out.text);
    expect(body).toContain(
      '  maintenanceMode: on\n  apiMaintenance: on\n  lock: held\n  lockStatus: needs-operator',
    );
    expect(body).toContain('ACTION NEEDED: an operator must look now.');
    expect(body).toContain('switchback unlock --env prod --owner');
    expect(body).not.toContain('Nothing is required');
  });

  it('failed (a backup): an operator looks; refused before any change: nothing was changed', () => {
    const failed = sections(renderNotice(NOTICES.failed, EXEC).text);
    expect(failed).toContain('  error: BackupVerificationError');
    expect(failed).toContain('ACTION NEEDED');
    const refused = renderNotice(NOTICES.refused, EXEC);
    expect(refused.subject).toBe('Switchback prod: provider cutover stopped before any change');
    expect(sections(refused.text)).toContain('Nothing was changed by this execution.');
  });

  it('an approval request says how to approve and reject this very execution', () => {
    const body = sections(
      renderNotice(
        {
          outcome: 'approval-needed',
          environment: 'prod',
          subject: 'Switchback: feature rollout waiting for approval',
          summary: 'Phase internal passed its gates; approval needed within 3600 s.',
        },
        EXEC,
      ).text,
    );
    expect(body).toContain(`switchback approve --env prod --execution ${EXEC}`);
    expect(body).toContain('--reject');
  });

  it("the incident report's notice: its own subject kept once, console links to the report objects", () => {
    const out = renderNotice(
      {
        outcome: 'rolled-back',
        environment: 'prod',
        subject: 'Switchback prod: alarm rollback verified (api-5xx)',
        summary:
          'api-5xx went to ALARM in prod. provider-rollback rolled back change chg-42 and verified it.',
        report: {
          json: 's3://switchback-prod-records/incidents/prod/inc-1.json',
          markdown: 's3://switchback-prod-records/incidents/prod/inc-1.md',
        },
        phases: { detect: 12, total: 95 },
      },
      EXEC,
    );
    expect(out.subject).toBe('Switchback prod: alarm rollback verified (api-5xx)');
    const body = sections(out.text);
    expect(body).toContain(
      '  report.markdown: https://console.aws.amazon.com/s3/object/switchback-prod-records?prefix=incidents%2Fprod%2Finc-1.md',
    );
    expect(body).toContain('  phases.total: 95');
    // The notice had no execution field: the sending execution is added to the JSON.
    expect(JSON.parse(out.notice).execution).toBe(EXEC);
  });

  it("keeps the subject within SNS's limit, one ASCII line; an unknown outcome is read as needing an operator", () => {
    const out = renderNotice(
      {
        outcome: 'something-new',
        environment: 'prod',
        subject: `Switchback: ${'very long subject with a café and\na line break '.repeat(4)}`,
        summary: 's',
      },
      EXEC,
    );
    expect(out.subject.length).toBeLessThanOrEqual(SUBJECT_MAX);
    expect(out.subject).toMatch(/^Switchback prod: very long subject with a caf\? and a line break/);
    expect(out.subject).toMatch(/^[\x20-\x7e]+\.\.\.$/);
    expect(out.text).toContain('ACTION NEEDED');
  });

  it("a rehearsal's execution (no AWS region) gets no console link but is named", () => {
    const local = 'arn:aws:states:local-1:000000000000:execution:switchback-rehearsal-provider-cutover:x';
    const body = sections(renderNotice(NOTICES.succeeded, local).text);
    expect(body).toContain('(no console link: the execution is not in an AWS region, e.g. a rehearsal)');
    expect(body).toContain(`  execution ARN: ${local}`);
    expect(body).not.toContain('console.aws.amazon.com/states');
  });

  it('refuses a notice without outcome or summary with InvalidInputError', async () => {
    await expect(
      invokeStep(composeNotice, { notice: { subject: 'x', summary: 'y' }, execution: EXEC }, fakeDeps()),
    ).rejects.toBeInstanceOf(InvalidInputError);
    await expect(
      invokeStep(composeNotice, { notice: { outcome: 'x', subject: 'x' }, execution: EXEC }, fakeDeps()),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });
});
