/**
 * Restore, seeds 001, 003 and 004: one definition per store (`restore-postgres`, `restore-sqlite`).
 * Resolve and checksum the backup, take a verified safety backup, stop the writers, restore without
 * ever leaving the target half restored, restart, verify; on failure put the safety backup back.
 */

import { lambda, onError, RETRY_ON, type States, states } from './asl';
import type { Source } from './budget';
import { dataTask } from './data-task';
import {
  acquireLock,
  awaitStable,
  HELD_FIELDS,
  holdForOperator,
  notice,
  notifyAndEnd,
  releaseLock,
  validateInput,
} from './protocol';

export type Store = 'postgres' | 'sqlite';

const beforeChange = [onError('ReleaseLockNothingChanged')];
const afterChange = { next: 'RecoverMaintenance', path: '$.failure' };
const inRecovery = { next: 'EnterMaintenance', path: '$.recoveryFailure' };
const maintenance = (value: 'on' | 'off') => ({ changes: [{ name: 'maintenance-mode', value }] });

/**
 * The swap, forward or back: maintenance on, writers scaled to zero, the data task restores a
 * backup, maintenance off, writers back at their previous count, and the writers stable. The
 * recovery path is the same swap with the safety backup, its names and paths prefixed `Recover`.
 */
function swap(o: {
  readonly recover: boolean;
  readonly comment: string;
  readonly restore: string;
  readonly restoreComment: string;
  readonly backupId: string;
  readonly key: string;
  readonly resultPath: string;
  readonly failure: { readonly next: string; readonly path: string };
  readonly onStable: string;
}): States {
  const p = o.recover ? 'Recover' : '';
  const at = (name: string) =>
    o.recover ? `$.recover${name[0]?.toUpperCase()}${name.slice(1)}` : `$.${name}`;
  const catches = [onError(o.failure.next, { resultPath: o.failure.path })];
  const started = at('started');
  const stableArgs = {
    service: { 'service.$': `${started}.first.service` },
    deploymentIdPath: `${started}.first.deploymentId`,
    notStableCause: `States.Format('The writers did not become stable after {} checks.', ${at('stability')}.attempt)`,
    onStable: o.onStable,
    onFailure: o.failure.next,
  };
  return states(
    {
      [o.recover ? 'RecoverMaintenance' : 'StartMaintenance']: lambda('set-flags', {
        comment: o.comment,
        parameters: maintenance('on'),
        resultPath: '$.maintenance',
        catch: catches,
        next: `${p}StopWriters`,
      }),
      [`${p}StopWriters`]: lambda('scale-service', {
        comment: 'Stops the writers (scaled to zero) so nothing writes to the target while it is restored.',
        parameters: { 'services.$': '$.request.writers', desiredCount: 0 },
        resultPath: at('stopped'),
        catch: catches,
        next: o.restore,
      }),
    },
    dataTask(o.restore, `${o.restore}Result`, {
      comment: o.restoreComment,
      command: 'restore',
      backupId: o.backupId,
      key: o.key,
      resultComment: 'Reads the result of the restore: a failed or unverified restore stops here.',
      resultPath: o.resultPath,
      catch: catches,
      next: `${p}ClearMaintenance`,
    }),
    {
      [`${p}ClearMaintenance`]: lambda('set-flags', {
        comment: 'Maintenance mode off: the API serves again from the restored data.',
        parameters: maintenance('off'),
        resultPath: '$.maintenance',
        catch: catches,
        next: `${p}StartWriters`,
      }),
      [`${p}StartWriters`]: lambda('scale-service', {
        comment: 'Starts the writers again at the count they had before they were stopped.',
        parameters: {
          'services.$': '$.request.writers',
          'desiredCount.$': `${at('stopped')}.first.previousDesiredCount`,
        },
        resultPath: started,
        catch: catches,
        next: `${p}StartStabilityWait`,
      }),
    },
    awaitStable({
      ...stableArgs,
      ...(o.recover
        ? { prefix: 'Recover', stabilityPath: at('stability'), failurePath: o.failure.path }
        : {}),
    }),
  );
}

const fields = {
  'database.$': '$.request.database',
  'error.$': '$.failure.Error',
  'cause.$': '$.failure.Cause',
};

export default function restore(store: Store): Source {
  const procedure = `restore-${store}`;
  const verify = [onError(afterChange.next)];
  return {
    Comment: `Restore ${store} (seeds 001, 003, 004): resolve and checksum the backup, take a verified safety backup, stop the writers, restore without ever leaving the target half restored, restart, verify; on failure put the safety backup back.`,
    StartAt: 'ValidateInput',
    States: states(
      validateInput({ procedure, step: 'validate-data-input', next: 'AcquireLock' }),
      acquireLock({ procedure, next: 'ResolveBackup' }),
      {
        ResolveBackup: lambda('backup-catalog', {
          comment: 'Finds the backup to restore in the catalog: the one named, or the latest verified one.',
          parameters: {
            action: 'resolve',
            'store.$': '$.request.store',
            'database.$': '$.request.database',
            'backupId.$': '$.request.backupId',
          },
          resultPath: '$.backup',
          catch: beforeChange,
          next: 'CheckBackup',
        }),
      },
      dataTask('CheckBackup', 'CheckResult', {
        comment:
          'Downloads and hashes the backup before anything changes: a corrupt or truncated object is refused here.',
        command: 'check',
        backupId: '$.backup.backupId',
        key: 'check',
        resultComment: 'Reads the checksum verdict: a mismatch refuses the restore before anything changed.',
        resultPath: '$.checked',
        catch: beforeChange,
        next: 'TakeSafetyBackup',
      }),
      dataTask('TakeSafetyBackup', 'SafetyResult', {
        comment: 'The current state, so the restore itself can be undone.',
        command: 'backup',
        backupId: '$.request.safetyBackupId',
        key: 'safety',
        extraEnv: [
          { Name: 'SB_PURPOSE', Value: 'safety' },
          {
            Name: 'SB_REASON',
            'Value.$': "States.Format('Safety backup before restoring {}', $.backup.backupId)",
          },
          { Name: 'SB_EXECUTION_ID', 'Value.$': '$$.Execution.Id' },
        ],
        resultComment: 'Reads the safety backup the task wrote: without one the restore does not start.',
        resultPath: '$.safety',
        catch: beforeChange,
        next: 'VerifySafety',
      }),
      dataTask('VerifySafety', 'VerifySafetyResult', {
        comment: 'Proves the safety backup restorable before relying on it: restored aside and checked.',
        command: 'verify',
        backupId: '$.request.safetyBackupId',
        key: 'verifySafety',
        resultComment: 'Reads the verification of the safety backup: an unverified one refuses the restore.',
        resultPath: '$.safety',
        catch: beforeChange,
        next: 'StartMaintenance',
      }),
      swap({
        recover: false,
        comment: 'Point of no return: from here a failure puts the safety backup back.',
        restore: 'Restore',
        restoreComment:
          'Into a new database (PostgreSQL) or a temporary file (SQLite), checked, then swapped in by rename: never half restored.',
        backupId: '$.backup.backupId',
        key: 'restore',
        resultPath: '$.restored',
        failure: afterChange,
        onStable: 'InspectTarget',
      }),
      dataTask('InspectTarget', 'InspectResult', {
        comment: "Integrity and row counts of the live target against the backup's manifest.",
        command: 'inspect',
        backupId: '$.backup.backupId',
        key: 'inspect',
        resultComment:
          'Reads the inspection: a failed integrity check or a row count off the manifest fails the restore.',
        resultPath: '$.inspected',
        catch: verify,
        next: 'VerifyApiHealth',
      }),
      {
        VerifyApiHealth: lambda('check-health', {
          comment: 'Verify: the API answers its health check on the restored data.',
          parameters: { target: 'api' },
          resultPath: '$.verifyApi',
          retry: [RETRY_ON.health],
          catch: verify,
          next: 'VerifyMemoryRead',
        }),
        VerifyMemoryRead: lambda('smoke-test', {
          comment: 'Verify: a marker memory is written and read back through the API.',
          parameters: { target: 'api', 'marker.$': '$.request.marker' },
          resultPath: '$.verifyMemory',
          retry: [RETRY_ON.smoke],
          catch: verify,
          next: 'UpdateRetention',
        }),
        UpdateRetention: lambda('backup-catalog', {
          comment: "Applies the store's backup retention; a failure here is noted, the restore stands.",
          parameters: { action: 'retain', 'store.$': '$.request.store', 'database.$': '$.request.database' },
          resultPath: '$.retention',
          catch: [onError('ReleaseLock', { resultPath: '$.retentionError' })],
          next: 'ReleaseLock',
        }),
        ReleaseLock: releaseLock({ next: 'DescribeRestored' }),
        DescribeRestored: notice({
          comment: 'The restore is verified: the notice names the backup restored and the safety backup.',
          outcome: 'restored',
          subject: `Switchback: ${store} restore verified`,
          summary:
            'Restored {} {} in ${Environment} from backup {} and verified it (integrity, row counts, API health, a memory write and read). Safety backup {} holds the state before.',
          args: ['$.request.store', '$.request.database', '$.backup.backupId', '$.request.safetyBackupId'],
          fields: {
            'backupId.$': '$.backup.backupId',
            'safetyBackupId.$': '$.request.safetyBackupId',
            'database.$': '$.request.database',
            'rowCounts.$': '$.inspected.rowCounts',
            lock: 'released',
          },
          next: 'Notify',
        }),
        ReleaseLockNothingChanged: releaseLock({ next: 'DescribeRefused' }),
        DescribeRefused: notice({
          comment: 'The backup, its checksum or the safety backup failed: nothing was changed.',
          outcome: 'restore-refused',
          subject: `Switchback: ${store} restore refused, nothing changed`,
          summary: 'Restore of {} {} in ${Environment} refused before changing anything: {}: {}',
          args: ['$.request.store', '$.request.database', '$.failure.Error', '$.failure.Cause'],
          fields: { ...fields, changed: false, lock: 'released' },
          next: 'Notify',
        }),
      },
      swap({
        recover: true,
        comment: 'The restore failed after the point of no return: put the safety backup back.',
        restore: 'PutSafetyBack',
        restoreComment: 'Restores the safety backup the same way, so the target is back to the state before.',
        backupId: '$.request.safetyBackupId',
        key: 'putBack',
        resultPath: '$.putBack',
        failure: inRecovery,
        onStable: 'RecoverVerifyApi',
      }),
      {
        RecoverVerifyApi: lambda('check-health', {
          comment: 'Verify: the API answers its health check on the state put back.',
          parameters: { target: 'api' },
          resultPath: '$.recoverVerify',
          retry: [RETRY_ON.health],
          catch: [onError(inRecovery.next, { resultPath: inRecovery.path })],
          next: 'ReleaseLockAfterRecovery',
        }),
        ReleaseLockAfterRecovery: releaseLock({ next: 'DescribeRecovered' }),
        DescribeRecovered: notice({
          comment: 'The restore failed and the safety backup was put back and verified.',
          outcome: 'restore-failed-recovered',
          subject: `Switchback: ${store} restore failed, previous state put back`,
          summary:
            'Restore of {} {} in ${Environment} from {} failed ({}: {}). The safety backup {} was put back and the API answers healthy. Lock released.',
          args: [
            '$.request.store',
            '$.request.database',
            '$.backup.backupId',
            '$.failure.Error',
            '$.failure.Cause',
            '$.request.safetyBackupId',
          ],
          fields: { ...fields, 'safetyBackupId.$': '$.request.safetyBackupId', lock: 'released' },
          next: 'Notify',
        }),
      },
      holdForOperator({ next: 'DescribeHeld' }),
      {
        DescribeHeld: notice({
          comment: 'Putting the safety backup back failed too: the environment is held for an operator.',
          outcome: 'rollback-failed',
          subject: `Switchback: ACTION NEEDED - ${store} restore and its recovery failed`,
          summary:
            'Restore of {} {} in ${Environment} failed ({}: {}) and putting the safety backup {} back failed too ({}). The writers may be stopped. Restore the safety backup by hand or run restore-{} with it after `switchback unlock`. {}',
          args: [
            '$.request.store',
            '$.request.database',
            '$.failure.Error',
            '$.failure.Cause',
            '$.request.safetyBackupId',
            '$.recoveryFailure.Error',
            '$.request.store',
            '$.observed.summary',
          ],
          fields: {
            ...fields,
            'recoveryError.$': '$.recoveryFailure.Error',
            'recoveryCause.$': '$.recoveryFailure.Cause',
            'safetyBackupId.$': '$.request.safetyBackupId',
            ...HELD_FIELDS,
          },
          next: 'Notify',
        }),
      },
      notifyAndEnd({
        endings: [
          {
            outcome: 'restore-refused',
            fail: 'RestoreRefused',
            errorPath: '$.failure.Error',
            comment:
              "Nothing changed; the error is the refusal's own (BackupChecksumMismatchError, BackupNotVerifiedError...).",
          },
          {
            outcome: 'restore-failed-recovered',
            fail: 'RestoreFailed',
            error: 'RestoreFailedError',
            comment: 'The restore failed; the safety backup was put back and verified.',
          },
          {
            outcome: 'rollback-failed',
            fail: 'RecoveryFailed',
            error: 'RollbackFailedError',
            comment: 'The recovery failed too: held for an operator.',
          },
        ],
        otherwise: { succeed: 'Restored', comment: 'Restored and verified.' },
      }),
    ),
  };
}
