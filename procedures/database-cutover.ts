/**
 * Database cutover, seed 002: maintenance on, a verified backup of the target, the final Qdrant ->
 * pgvector migration, verification gates, switch database/active, restart, smoke tests, a
 * monitoring window, maintenance off, report and sign-off. Any failure after maintenance on runs
 * database-rollback.
 */
import {
  type AslState,
  type Catcher,
  choice,
  fail,
  type JsonObject,
  lambda,
  onError,
  pascal,
  pass,
  RETRY_ON,
  retryOn,
  type States,
  states,
  wait,
} from './asl';
import type { Source } from './budget';
import { initDatabaseState } from './database-state';
import {
  acquireLock,
  awaitStable,
  delegateAndStart,
  HELD_FIELDS,
  holdForOperator,
  notice,
  notifyAndEnd,
  releaseLock,
  validateInput,
  verifiedBackups,
} from './protocol';

const procedure = 'database-cutover';
const changeId = { 'changeId.$': '$.request.changeId' };
const target = '$.request.target.connection';
const beforeChange = [onError('ReleaseLockNothingChanged')];
const afterChange = [onError('RollBack')];

/** A `database-check` step (it reaches both stores, so it gets more than a step's default time). */
function check(o: {
  comment: string;
  parameters: JsonObject;
  resultPath: string;
  next: string;
  smoke?: boolean;
  catch?: readonly Catcher[];
}): AslState {
  return lambda('database-check', {
    comment: o.comment,
    parameters: { ...o.parameters, ...changeId },
    timeout: 330,
    resultPath: o.resultPath,
    ...(o.smoke ? { retry: [RETRY_ON.smoke] } : {}),
    catch: o.catch ?? afterChange,
    next: o.next,
  });
}

/** A verification gate: its verdict and evidence land in `$.gates.<gate>` for the report. */
const gate = (name: string, comment: string, next: string) =>
  check({ comment, parameters: { action: 'gate', gate: name }, resultPath: `$.gates.${name}`, next });

/** The gates between the migration and the switch, in order (seed 002 2a/2b); each is `Gate<Name>`. */
const GATES: readonly (readonly [string, string])[] = [
  [
    'migration',
    'Gate (seed 002 2a): success rate at or above the threshold; the duration recorded against its target.',
  ],
  [
    'counts',
    "Gate: Qdrant's point count against the rows with an embedding, every point accounted for, none twice.",
  ],
  ['payloads', 'Gate: sampled payloads and vectors equal both ways, within float4 precision.'],
  ['recall', 'Gate: a vector search on pgvector finds what Qdrant finds (recall@10 on sample queries).'],
  ['consistency', "Gate (seed 002 2b): the runbook's consistency SQL, and RLS keeps organisations apart."],
];
const gateStates = (next: string): States =>
  Object.fromEntries(
    GATES.map(([name, comment], i) => {
      const after = GATES[i + 1];
      return [`Gate${pascal(name)}`, gate(name, comment, after ? `Gate${pascal(after[0])}` : next)];
    }),
  );

/** Seed 002 step 5's smoke tests at one phase, expecting the new connection. */
const smoke = (o: {
  comment: string;
  phase: string;
  resultPath: string;
  maintenance: boolean;
  next: string;
}) =>
  check({
    comment: o.comment,
    parameters: { action: 'smoke', phase: o.phase, 'expect.$': target, expectMaintenance: o.maintenance },
    resultPath: o.resultPath,
    smoke: true,
    next: o.next,
  });

/**
 * The one restart sequence (seed 002 step 4), entered at three phases: each `Phase*` state records
 * its phase, `RestartApi` restarts the API and waits for it to be stable, and `AfterRestart` goes on
 * where the phase says (the last phase is the default).
 */
function restartAt(
  phases: readonly { state: string; phase: string; goOn: string; comment: string }[],
): States {
  const last = phases[phases.length - 1];
  if (!last) throw new Error('restartAt needs a phase');
  return states(
    Object.fromEntries(
      phases.map((p) => [
        p.state,
        pass({ comment: p.comment, result: p.phase, resultPath: '$.phase', next: 'RestartApi' }),
      ]),
    ),
    {
      RestartApi: lambda('restart-service', {
        comment:
          "A new ECS deployment: the API's tasks restart and read database/active and maintenance-mode afresh (seed 002 step 4).",
        parameters: { service: 'api' },
        resultPath: '$.restart',
        catch: afterChange,
        next: 'StartStabilityWait',
      }),
    },
    awaitStable({ onStable: 'AfterRestart', onFailure: 'RollBack' }),
    {
      AfterRestart: choice({
        comment: 'One restart sequence, used at each phase; the phase says where to go on.',
        choices: phases
          .slice(0, -1)
          .map((p) => ({ Variable: '$.phase', StringEquals: p.phase, next: p.goOn })),
        default: last.goOn,
      }),
    },
  );
}

/** The report (JSON + Markdown) and sign-off record; a failure is kept in `$.reportError`. */
const report = (outcome: string, fields: JsonObject, next: string) =>
  lambda('database-report', {
    comment:
      "The report (JSON + Markdown) with every gate's evidence, and seed 002's sign-off record, in the backup bucket.",
    parameters: {
      ...changeId,
      'executionId.$': '$$.Execution.Id',
      outcome,
      'reason.$': '$.request.reason',
      'lead.$': '$.request.requestedBy',
      'source.$': '$.request.source.connection',
      'target.$': target,
      'backups.$': '$.backups',
      ...fields,
    },
    resultPath: '$.report',
    catch: [onError(next, { resultPath: '$.reportError' })],
    next,
  });

const failureFields = { 'error.$': '$.failure.Error', 'cause.$': '$.failure.Cause' };

export default {
  Comment:
    'Database cutover (seed 002): maintenance on, a verified backup of the target, the final Qdrant -> pgvector migration, verification gates, switch database/active, restart, smoke tests, a monitoring window, maintenance off, report and sign-off. Any failure after maintenance on runs database-rollback.',
  StartAt: 'ValidateInput',
  States: states(
    validateInput({ procedure, step: 'database-input', next: 'InitState' }),
    {
      InitState: initDatabaseState,
    },
    acquireLock({ procedure, changeId: '$.request.changeId', next: 'Preflight' }),
    {
      Preflight: check({
        comment: 'Which connection is active; Qdrant and the target answer. Nothing has changed yet.',
        parameters: { action: 'preflight' },
        resultPath: '$.preflight',
        catch: beforeChange,
        next: 'IsAlreadyActive',
      }),
      IsAlreadyActive: choice({
        comment: 'A second run after a successful cutover changes nothing.',
        choices: [
          { Variable: '$.preflight.alreadyActive', BooleanEquals: true, next: 'ReleaseLockAlreadyActive' },
        ],
        default: 'RecordChange',
      }),
      ReleaseLockAlreadyActive: releaseLock({ next: 'DescribeAlreadyActive' }),
      DescribeAlreadyActive: notice({
        comment: 'database/active already names the target: nothing to do, nothing changed.',
        outcome: 'already-active',
        subject: 'Switchback: database cutover not needed, nothing changed',
        summary:
          'database/active in ${Environment} already names {}: nothing to migrate or switch, nothing changed. Lock released.',
        args: [target],
        fields: { ...changeId, 'active.$': '$.preflight.active', changed: false, lock: 'released' },
        next: 'Notify',
      }),
      RecordChange: lambda('change-record', {
        comment:
          'The previous database/active and maintenance-mode (with their SSM versions) and the API task definition, before anything changes.',
        parameters: {
          action: 'open',
          ...changeId,
          procedure,
          'executionId.$': '$$.Execution.Id',
          'reason.$': '$.request.reason',
          'requestedBy.$': '$.request.requestedBy',
          target: [
            { name: 'database/active', 'value.$': target },
            { name: 'maintenance-mode', value: 'on' },
          ],
        },
        resultPath: '$.change',
        catch: beforeChange,
        next: 'MaintenanceOn',
      }),
      MaintenanceOn: lambda('set-flags', {
        comment:
          'Point of no return (seed 002 step 1): from here every failure runs database-rollback from the change record.',
        parameters: { changes: [{ name: 'maintenance-mode', value: 'on' }] },
        resultPath: '$.maintenanceOn',
        catch: afterChange,
        next: 'PhaseMaintenance',
      }),
    },
    restartAt([
      {
        state: 'PhaseMaintenance',
        phase: 'maintenance',
        goOn: 'BackupTarget',
        comment: 'Maintenance is on: restart so the API serves maintenance, then back up the target.',
      },
      {
        state: 'PhaseSwitched',
        phase: 'switched',
        goOn: 'SmokeTests',
        comment: 'database/active is switched: restart onto the new connection, then run the smoke tests.',
      },
      {
        state: 'PhaseServing',
        phase: 'serving',
        goOn: 'VerifyServing',
        comment: 'Maintenance is off: restart so the API serves users again, then verify it serving.',
      },
    ]),
    {
      BackupTarget: verifiedBackups({
        comment:
          'A verified backup of the target database (the backup procedure, proven restorable) before the migration writes to it.',
        catch: afterChange,
        next: 'VerifyMapping',
      }),
      VerifyMapping: gate(
        'mapping',
        "Gate: the collection's dimension and distance map onto the target column and its index, before any point is written.",
        'MigrateVectors',
      ),
      MigrateVectors: lambda('migrate-vectors', {
        comment:
          'Seed 002 step 2a. Each invocation resumes from the durable checkpoint, works to its time budget and returns the cursor; a crash is retried from the last committed batch.',
        parameters: changeId,
        timeout: 930,
        resultPath: '$.migration',
        retry: [
          retryOn(
            [
              'VectorSourceUnavailableError',
              'VectorTargetUnavailableError',
              'States.Timeout',
              'Lambda.Unknown',
            ],
            {
              interval: 5,
              attempts: 3,
              backoff: 2,
              jitter: true,
            },
          ),
        ],
        catch: afterChange,
        next: 'IsMigrationDone',
      }),
      IsMigrationDone: choice({
        comment: 'Migrated every point: go to the gates. Otherwise resume from the checkpoint.',
        choices: [{ Variable: '$.migration.done', BooleanEquals: true, next: 'GateMigration' }],
        default: 'MigrateVectors',
      }),
    },
    gateStates('CheckNewConnection'),
    {
      CheckNewConnection: check({
        comment:
          'Seed 002 3a/3b: the new URL is the transaction pooler (port 6543) when the stage says so, and answers. Resolved inside the step; only the port is reported.',
        parameters: { action: 'connection', 'connection.$': target },
        resultPath: '$.connection',
        next: 'SwitchDatabase',
      }),
      SwitchDatabase: lambda('set-flags', {
        comment:
          'Seed 002 step 3: database/active names the new connection; its secret holds the URL, which never enters the execution.',
        parameters: { changes: [{ name: 'database/active', 'value.$': target }] },
        resultPath: '$.switched',
        catch: afterChange,
        next: 'PhaseSwitched',
      }),
      SmokeTests: smoke({
        comment:
          'Seed 002 step 5: health on the new connection, database connectivity, RLS isolation, a vector search under the latency target, storage.',
        phase: 'after-switch',
        resultPath: '$.smoke',
        maintenance: true,
        next: 'MonitoringWindow',
      }),
      MonitoringWindow: wait({
        comment:
          'Seed 002 step 6: watch before reopening. A rollback alarm in this window starts the rollback router, which stops this execution and runs database-rollback.',
        secondsPath: '$.request.monitoring.windowSeconds',
        next: 'CheckAfterWindow',
      }),
      CheckAfterWindow: smoke({
        comment: 'The smoke tests again after the monitoring window, before maintenance mode is turned off.',
        phase: 'after-window',
        resultPath: '$.smokeAfterWindow',
        maintenance: true,
        next: 'MaintenanceOff',
      }),
      MaintenanceOff: lambda('set-flags', {
        comment: 'Seed 002 step 7, only after every smoke test passed.',
        parameters: { changes: [{ name: 'maintenance-mode', value: 'off' }] },
        resultPath: '$.maintenanceOff',
        catch: afterChange,
        next: 'PhaseServing',
      }),
      VerifyServing: smoke({
        comment:
          'The smoke tests once more with maintenance off: the API serves users on the new connection.',
        phase: 'serving',
        resultPath: '$.smokeServing',
        maintenance: false,
        next: 'CloseChange',
      }),
      CloseChange: lambda('change-record', {
        comment: 'Marks the change record completed; a failure here is noted, the cutover stands.',
        parameters: { action: 'close', ...changeId, status: 'completed', 'executionId.$': '$$.Execution.Id' },
        resultPath: '$.closed',
        catch: [onError('WriteReport', { resultPath: '$.closeError' })],
        next: 'WriteReport',
      }),
      WriteReport: report('succeeded', {}, 'ReleaseLock'),
      ReleaseLock: releaseLock({ next: 'DescribeSuccess' }),
      DescribeSuccess: notice({
        comment:
          'The cutover is verified: the notice names the new connection, the migration and the report.',
        outcome: 'cutover-succeeded',
        subject: 'Switchback: database cutover succeeded',
        summary:
          'The backend in ${Environment} now uses {} (pgvector). {} vectors migrated in {} s; every gate and smoke test passed; maintenance mode off. Report: {}. Lock released.',
        args: [target, '$.migration.counts.succeeded', '$.migration.durationSeconds', '$.report.markdownKey'],
        fields: {
          ...changeId,
          'reason.$': '$.request.reason',
          'active.$': target,
          'migration.$': '$.migration.counts',
          'report.$': '$.report',
          lock: 'released',
        },
        next: 'Notify',
      }),
      ReleaseLockNothingChanged: releaseLock({ next: 'DescribePreflightFailure' }),
      DescribePreflightFailure: notice({
        comment: 'The preflight or the change record failed: nothing was changed.',
        outcome: 'preflight-failed',
        subject: 'Switchback: database cutover stopped before any change',
        summary:
          'Database cutover {} stopped before changing anything: {}: {}. Flags untouched, lock released.',
        args: ['$.request.changeId', '$.failure.Error', '$.failure.Cause'],
        fields: { ...changeId, ...failureFields, changed: false, lock: 'released' },
        next: 'Notify',
      }),
    },
    delegateAndStart({ delegate: 'RollBack', start: 'StartRollback' }, 'database-rollback', {
      comment:
        "Runs database-rollback from this change's record, inheriting this execution's lock: maintenance on, the previous connection, restart, verify the old store, maintenance off. The new database is left intact.",
      input: {
        'reason.$':
          "States.Format('Automatic rollback of database cutover {} after {}', $.request.changeId, $.failure.Error)",
        requestedBy: 'switchback',
        ...changeId,
        'parentExecutionId.$': '$$.Execution.Id',
        trigger: { source: 'cutover', ...failureFields },
      },
      resultSelector: {
        'executionArn.$': '$.ExecutionArn',
        'status.$': '$.Status',
        'output.$': '$.Output',
      },
      resultPath: '$.rollback',
      catch: [onError('EnterMaintenance', { resultPath: '$.rollbackFailure' })],
      next: 'WriteRollbackReport',
    }),
    {
      WriteRollbackReport: report(
        'rolled-back',
        { 'failure.$': '$.failure', 'rollbackExecution.$': '$.rollback.executionArn' },
        'ReleaseLockAfterRollback',
      ),
      ReleaseLockAfterRollback: releaseLock({ next: 'DescribeRolledBack' }),
      DescribeRolledBack: notice({
        comment:
          'The rollback verified the old store: the notice says what it restored and where the report is.',
        outcome: 'rolled-back',
        subject: 'Switchback: database cutover failed and was rolled back',
        summary:
          'Database cutover {} failed ({}: {}). It was rolled back to {} and the rollback verified the API and a vector search on the old store. The new database was left intact for investigation. Report: {}. Lock released.',
        args: [
          '$.request.changeId',
          '$.failure.Error',
          '$.failure.Cause',
          '$.rollback.output.restoredTo',
          '$.report.markdownKey',
        ],
        fields: {
          ...changeId,
          ...failureFields,
          'rollbackExecution.$': '$.rollback.executionArn',
          'active.$': '$.rollback.output.restoredTo',
          'report.$': '$.report',
          lock: 'released',
        },
        next: 'Notify',
      }),
    },
    holdForOperator({ next: 'WriteHeldReport' }),
    {
      WriteHeldReport: report('rollback-failed', { 'failure.$': '$.failure' }, 'DescribeHeld'),
      DescribeHeld: notice({
        comment: 'The rollback did not verify: the environment is held for an operator.',
        outcome: 'rollback-failed',
        subject: 'Switchback: ACTION NEEDED - database rollback could not verify',
        summary:
          'Database cutover {} failed ({}: {}) and its rollback did not verify ({}). Check database/active and the API, then run database-rollback again or release the lock with `switchback unlock`. {}',
        args: [
          '$.request.changeId',
          '$.failure.Error',
          '$.failure.Cause',
          '$.rollbackFailure.Error',
          '$.observed.summary',
        ],
        fields: {
          ...changeId,
          ...failureFields,
          'rollbackError.$': '$.rollbackFailure.Error',
          'rollbackCause.$': '$.rollbackFailure.Cause',
          ...HELD_FIELDS,
        },
        next: 'Notify',
      }),
    },
    notifyAndEnd({
      endings: [
        {
          outcome: 'preflight-failed',
          fail: 'PreflightFailed',
          error: 'PreflightFailedError',
          comment: 'Stopped before any change.',
        },
        { outcome: 'rolled-back', next: 'WhyRolledBack' },
        {
          outcome: 'rollback-failed',
          fail: 'RollbackFailed',
          error: 'RollbackFailedError',
          comment: 'The rollback did not verify: held for an operator.',
        },
        {
          outcome: 'already-active',
          succeed: 'AlreadyActive',
          comment: 'Already on the target: nothing changed.',
        },
      ],
      otherwise: { succeed: 'CutoverSucceeded', comment: 'Switched to the new database and verified.' },
    }),
    {
      // Not expressible by notifyAndEnd: one outcome ends in one of two Fail states by the error.
      WhyRolledBack: choice({
        comment: 'A verification gate that failed means the switch never happened.',
        choices: [
          { Variable: '$.failure.Error', StringEquals: 'DatabaseGateFailedError', next: 'GateFailed' },
        ],
        default: 'CutoverRolledBack',
      }),
      GateFailed: fail({
        comment: 'A verification gate failed before the switch; rolled back and verified.',
        error: 'DatabaseGateFailedError',
        causePath: '$.notice.summary',
      }),
      CutoverRolledBack: fail({
        comment: 'The cutover failed and was rolled back and verified.',
        error: 'CutoverRolledBackError',
        causePath: '$.notice.summary',
      }),
    },
  ),
} satisfies Source;
