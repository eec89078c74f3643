/**
 * Backup, seeds 001 and 003: a PostgreSQL dump or SQLite online copy streamed to S3 with sha256
 * and a manifest, then proven restorable; on failure, notify and end with the data task's error.
 */

import { choice, fail, lambda, onError, states, succeed } from './asl';
import type { Source } from './budget';
import { dataTask, env } from './data-task';
import { notice, publishNotice, validateInput } from './protocol';

export default {
  Comment:
    'Backup: a PostgreSQL dump or SQLite online copy streamed to S3 with sha256 and a manifest, then proven restorable. Run on its own, on a schedule, or by a cutover before it changes anything.',
  StartAt: 'ValidateInput',
  States: states(
    validateInput({ procedure: 'backup', step: 'validate-data-input', next: 'TakeBackup' }),
    {},
    dataTask('TakeBackup', 'BackupResult', {
      comment:
        'pg_dump (or the SQLite backup API) streamed to S3 by the data task on Fargate; its outcome is read by the next state either way.',
      command: 'backup',
      backupId: '$.request.backupId',
      key: 'backup',
      extraEnv: [
        env('SB_PURPOSE', '$.request.purpose'),
        env('SB_REASON', '$.request.reason'),
        env('SB_EXECUTION_ID', '$$.Execution.Id'),
      ],
      resultComment:
        'Reads what the backup task recorded: its output, or its error thrown under its own name.',
      resultPath: '$.backup',
      catch: [onError('DescribeFailure')],
      next: 'IsPostgres',
    }),
    {
      IsPostgres: choice({
        comment: 'A SQLite copy is verified by integrity_check when taken; a dump by restoring it.',
        choices: [{ Variable: '$.request.store', StringEquals: 'postgres', next: 'VerifyBackup' }],
        default: 'UpdateRetention',
      }),
    },
    dataTask('VerifyBackup', 'VerifyResult', {
      comment: 'pg_restore into a scratch database, row counts against the manifest.',
      command: 'verify',
      backupId: '$.request.backupId',
      key: 'verify',
      resultComment:
        'Reads what the verify task recorded: the backup proven restorable, or its error under its own name.',
      resultPath: '$.backup',
      catch: [onError('DescribeFailure')],
      next: 'UpdateRetention',
    }),
    {
      UpdateRetention: lambda('backup-catalog', {
        comment:
          'Retention tags: the newest verified backup is never expirable. A failure here is noted, the backup stands.',
        parameters: { action: 'retain', 'store.$': '$.request.store', 'database.$': '$.request.database' },
        resultPath: '$.retention',
        catch: [onError('BackedUp', { resultPath: '$.retentionError' })],
        next: 'BackedUp',
      }),
      BackedUp: succeed({ comment: 'A verified backup: its result is the output.', outputPath: '$.backup' }),
      DescribeFailure: notice({
        comment: 'The backup or its verification failed: the notice names the backup and the error.',
        outcome: 'backup-failed',
        subject: 'Switchback: backup failed',
        summary: 'Backup {} of {} {} in ${Environment} failed: {}: {}',
        args: [
          '$.request.backupId',
          '$.request.store',
          '$.request.database',
          '$.failure.Error',
          '$.failure.Cause',
        ],
        fields: {
          'backupId.$': '$.request.backupId',
          'store.$': '$.request.store',
          'database.$': '$.request.database',
          'error.$': '$.failure.Error',
          'cause.$': '$.failure.Cause',
        },
        next: 'NotifyFailure',
      }),
      // Not notifyAndEnd's Notify: the execution fails with the data task's own error either way.
      ...publishNotice({
        name: 'NotifyFailure',
        comment: 'Publishes the failure notice; the execution fails with the same error either way.',
        next: 'BackupFailed',
      }),
      BackupFailed: fail({
        comment: "Ends with the data task's own error name (BackupFailedError, BackupVerificationError...).",
        errorPath: '$.failure.Error',
        causePath: '$.failure.Cause',
      }),
    },
  ),
} satisfies Source;
