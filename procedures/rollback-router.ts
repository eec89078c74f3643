/**
 * Rollback router, seeds 001 and 004: started by EventBridge when a rollback alarm goes to ALARM.
 * One incident per alarm storm; stops the cutover in flight (taking its lock over) or undoes the
 * last completed change with the decision matrix's rollback; writes the incident report and
 * notifies with its location.
 */
import {
  choice,
  dynamodb,
  fail,
  integration,
  type JsonObject,
  lambda,
  onError,
  pass,
  retryOn,
  states,
  succeed,
  wait,
} from './asl';
import type { Source } from './budget';
import { RESOURCE } from './integrations';
import { delegateAndStart, holdForOperator, notice, notifyAndEnd } from './protocol';

const TABLE = '${LockTableName}';
const LOCK_KEY = { pk: { S: '${Environment}' } };
const INCIDENT_KEY = { pk: { 'S.$': '$.route.incident.key' } };
const ME = { 'S.$': '$$.Execution.Id' };
/** This alarm, as an entry of the incident's `alarms` list. */
const ALARM_ENTRY = {
  L: [
    {
      M: {
        name: { 'S.$': '$.route.alarm.name' },
        at: { 'S.$': '$.route.alarm.stateChangedAt' },
        execution: ME,
      },
    },
  ],
};
const lockConflict = [
  onError('CountLockAttempt', {
    errors: ['DynamoDB.ConditionalCheckFailedException'],
    resultPath: '$.lockConflict',
  }),
];

/** A plan that changes nothing: the router only reports and notifies. */
const hold = (why: JsonObject) =>
  pass({
    comment: 'Nothing will be changed: the plan becomes hold, with the reason, and the report says why.',
    parameters: {
      action: 'hold',
      ...why,
      'procedure.$': '$.route.decision.procedure',
      changeId: null,
      inFlight: null,
      lastChange: null,
    },
    resultPath: '$.plan',
    next: 'WriteReport',
  });

/** A deduplication notice: this alarm belongs to an incident already being handled. */
const deduplicated = (why: string, incidentId: JsonObject) =>
  pass({
    comment: 'Says why this alarm starts nothing: another execution is handling its incident.',
    parameters: { outcome: 'deduplicated', environment: '${Environment}', 'why.$': why, ...incidentId },
    resultPath: '$.notice',
    next: 'Deduplicated',
  });

/** The rollback procedures the router can run, one branch each (alarm-catalog ROLLBACK_PROCEDURES). */
const ROLLBACKS = [
  {
    procedure: 'provider-rollback',
    state: 'RunProviderRollback',
    start: 'StartProviderRollback',
    comment:
      "Runs provider-rollback from the change record, inheriting the router's lock; it verifies through the API and, if it cannot, leaves maintenance mode on and the lock held for an operator.",
  },
  {
    procedure: 'database-rollback',
    state: 'RunDatabaseRollback',
    start: 'StartDatabaseRollback',
    comment:
      "Runs database-rollback from the change record (a data rollback, seed 004), inheriting the router's lock: maintenance on, the previous connection, restart, verify the old store, maintenance off. If it cannot verify, it leaves maintenance mode on and the lock held for an operator.",
  },
  {
    procedure: 'feature-disable',
    state: 'RunFeatureDisable',
    start: 'StartFeatureDisable',
    comment:
      "Runs feature-disable for a completed feature rollout (seed 003's emergency disable), inheriting the router's lock: the flag off, the app serving it off within 60 s, verified. If it cannot verify, it leaves maintenance mode on and the lock held for an operator.",
  },
  {
    procedure: 'code-rollback',
    state: 'RunCodeRollback',
    start: 'StartCodeRollback',
    comment:
      "Runs code-rollback for the journal's culprit (a deployment by CI, an operator or ECS), inheriting the router's lock: the service back to its last known good task definition, stable, verified. If it cannot verify, it leaves maintenance mode on and the lock held for an operator.",
  },
  {
    procedure: 'config-rollback',
    state: 'RunConfigRollback',
    start: 'StartConfigRollback',
    comment:
      "Runs config-rollback for the journal's culprit (a watched parameter changed by hand or by CI), inheriting the router's lock: the value back to its last known good, the readers restarted, verified. If it cannot verify, it leaves maintenance mode on and the lock held for an operator.",
  },
] as const;

export default {
  Comment:
    "Rollback router: started by EventBridge when one of the environment's rollback alarms goes to ALARM. One incident per alarm storm; stops a cutover in flight or undoes the last completed change with the decision matrix's rollback; writes an incident report and notifies with its location.",
  StartAt: 'ParseAlarm',
  States: states(
    {
      ParseAlarm: lambda('route-alarm', {
        comment:
          'Validates the event and decides whether it is ours: a malformed or foreign event ends here with InvalidInputError, an OK/INSUFFICIENT_DATA state or another alarm is ignored with a log line.',
        parameters: { 'event.$': '$$.Execution.Input', 'executionName.$': '$$.Execution.Name' },
        resultSelector: { 'route.$': '$' },
        timeout: 30,
        catch: [onError('EventRefused', { resultPath: 'replace' })],
        next: 'Disposition',
      }),
      EventRefused: fail({
        comment: 'Error and cause of the refusal, passed through. Nothing was changed.',
        errorPath: '$.Error',
        causePath: '$.Cause',
      }),
      Disposition: choice({
        comment:
          'Ignore what is not ours, only notify when automation is paused, otherwise handle the alarm.',
        choices: [
          { Variable: '$.route.disposition', StringEquals: 'ignore', next: 'DescribeIgnored' },
          { Variable: '$.route.disposition', StringEquals: 'paused', next: 'DescribePaused' },
        ],
        default: 'OpenIncident',
      }),
      DescribeIgnored: pass({
        comment: 'Says why the event was ignored; nothing is notified.',
        parameters: { outcome: 'ignored', environment: '${Environment}', 'why.$': '$.route.why' },
        resultPath: '$.notice',
        next: 'Ignored',
      }),
      Ignored: succeed({ comment: 'Not an alarm this router acts on.', outputPath: '$.notice' }),
      DescribePaused: notice({
        comment: 'The kill switch: the alarm is reported, nothing is rolled back and no incident is opened.',
        outcome: 'paused',
        subject: 'Switchback: alarm notified only, automation is paused',
        summary:
          '{} went to ALARM in ${Environment} ({}). Automation is paused (automation/paused=true): nothing was rolled back. Decision had it not been paused: {} rollback by {} ({}).',
        args: [
          '$.route.alarm.name',
          '$.route.alarm.reason',
          '$.route.decision.rollback',
          '$.route.decision.procedure',
          '$.route.decision.priority',
        ],
        fields: { 'alarm.$': '$.route.alarm.name', 'decision.$': '$.route.decision' },
        next: 'Notify',
      }),
      OpenIncident: dynamodb('putItem', {
        comment:
          'At most one incident per environment: the first alarm of a storm opens it; until it expires (cool-down after it closes) every other alarm is recorded on it and starts nothing.',
        parameters: {
          TableName: TABLE,
          Item: {
            ...INCIDENT_KEY,
            incidentId: { 'S.$': '$.route.incident.id' },
            owner: ME,
            status: { S: 'open' },
            openedAt: { 'S.$': '$$.Execution.StartTime' },
            expiresAt: { 'N.$': '$.route.incident.expiresAt' },
            alarms: ALARM_ENTRY,
            alarmCount: { N: '1' },
          },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
          ExpressionAttributeValues: { ':now': { 'N.$': '$.route.incident.now' } },
        },
        resultPath: null,
        catch: [
          onError('RecordOnIncident', {
            errors: ['DynamoDB.ConditionalCheckFailedException'],
            resultPath: '$.incidentConflict',
          }),
        ],
        next: 'StartResponse',
      }),
      RecordOnIncident: dynamodb('updateItem', {
        comment: 'An incident is already being handled: this alarm is added to it, and nothing else happens.',
        parameters: {
          TableName: TABLE,
          Key: INCIDENT_KEY,
          UpdateExpression: 'SET alarms = list_append(alarms, :alarm) ADD alarmCount :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':alarm': ALARM_ENTRY, ':one': { N: '1' } },
          ReturnValues: 'ALL_NEW',
        },
        resultSelector: {
          'incidentId.$': '$.Attributes.incidentId.S',
          'owner.$': '$.Attributes.owner.S',
          'alarmCount.$': '$.Attributes.alarmCount.N',
        },
        resultPath: '$.incident',
        catch: [onError('DescribeDeduplicatedUnrecorded', { resultPath: '$.recordError' })],
        next: 'DescribeDeduplicated',
      }),
      DescribeDeduplicated: deduplicated(
        "States.Format('{} is recorded on incident {} (alarm {} of it), which {} is handling: no second rollback', $.route.alarm.name, $.incident.incidentId, $.incident.alarmCount, $.incident.owner)",
        { 'incidentId.$': '$.incident.incidentId' },
      ),
      DescribeDeduplicatedUnrecorded: deduplicated(
        "States.Format('An incident is already being handled; {} could not be recorded on it ({}): no second rollback', $.route.alarm.name, $.recordError.Error)",
        { incidentId: null },
      ),
      Deduplicated: succeed({
        comment: 'Recorded on the incident in progress; no second rollback.',
        outputPath: '$.notice',
      }),
      StartResponse: pass({
        comment: 'What the response did, filled in as it goes; the report reads it.',
        result: {
          stop: null,
          stopError: null,
          confirm: null,
          confirmError: null,
          rollback: null,
          rollbackFailure: null,
          lockRelease: null,
          lockReleaseError: null,
          planError: null,
          lockAttempts: { n: 0 },
        },
        resultPath: '$.response',
        next: 'ReadLock',
      }),

      // The router's own lock protocol: take over the lock of a cutover in flight, or take it
      // free, re-reading when it changed hands in between; release only a lock still 'held'.
      ReadLock: dynamodb('getItem', {
        comment: 'The lock says whether a change is in flight, which procedure and which change.',
        parameters: { TableName: TABLE, Key: LOCK_KEY, ConsistentRead: true },
        resultPath: '$.lockRead',
        catch: [onError('PlanFailed', { resultPath: '$.response.planError' })],
        next: 'PlanResponse',
      }),
      PlanResponse: lambda('plan-response', {
        comment: 'Stop the cutover in flight, undo the last completed change, or hold (notify only).',
        parameters: {
          phase: 'decide',
          'procedure.$': '$.route.decision.procedure',
          'undoes.$': '$.route.decision.undoes',
          'maxChangeAgeHours.$': '$.route.incident.maxChangeAgeHours',
          'alarmChangedAt.$': '$.route.alarm.stateChangedAt',
          'alarmReason.$': '$.route.alarm.reason',
          'lock.$': '$.lockRead',
        },
        resultPath: '$.plan',
        catch: [onError('PlanFailed', { resultPath: '$.response.planError' })],
        next: 'ResponseAction',
      }),
      PlanFailed: hold({
        'why.$':
          "States.Format('Could not decide how to respond ({}: {}); nothing was changed', $.response.planError.Error, $.response.planError.Cause)",
      }),
      ResponseAction: choice({
        comment:
          'Stop in flight takes the cutover lock over; undo last takes the free lock; hold only reports.',
        choices: [
          { Variable: '$.plan.action', StringEquals: 'stop-in-flight', next: 'TakeOverLock' },
          { Variable: '$.plan.action', StringEquals: 'undo-last', next: 'AcquireLock' },
        ],
        default: 'WriteReport',
      }),
      TakeOverLock: dynamodb('updateItem', {
        comment:
          "Takes the cutover's lock over before stopping it, conditionally on that cutover still holding it: the lock janitor, started when the cutover ends ABORTED, then finds another owner and leaves the lock alone.",
        parameters: {
          TableName: TABLE,
          Key: LOCK_KEY,
          UpdateExpression: 'SET #owner = :me, #holder = :me, #procedure = :router, takenOverFrom = :cutover',
          ConditionExpression: '#owner = :cutover AND #holder = :cutover AND #status = :held',
          ExpressionAttributeNames: {
            '#owner': 'owner',
            '#holder': 'holder',
            '#procedure': 'procedure',
            '#status': 'status',
          },
          ExpressionAttributeValues: {
            ':me': ME,
            ':router': { S: 'rollback-router' },
            ':cutover': { 'S.$': '$.plan.inFlight.owner' },
            ':held': { S: 'held' },
          },
        },
        resultPath: null,
        catch: lockConflict,
        next: 'StopInFlight',
      }),
      StopInFlight: integration(RESOURCE.stopExecution, {
        comment:
          'Stops the cutover in flight. If it cannot be stopped (it may have ended meanwhile), its change is rolled back regardless; the report says so.',
        parameters: {
          'ExecutionArn.$': '$.plan.inFlight.owner',
          Error: 'StoppedByRollbackRouter',
          'Cause.$':
            "States.Format('Alarm {} went to ALARM; rollback router {} took over the lock and rolls back change {}', $.route.alarm.name, $$.Execution.Id, $.plan.changeId)",
        },
        resultPath: '$.response.stop',
        retry: [retryOn('States.TaskFailed', { interval: 1, attempts: 2, backoff: 2, jitter: true })],
        catch: [onError('SettleAfterStop', { resultPath: '$.response.stopError' })],
        next: 'SettleAfterStop',
      }),
      SettleAfterStop: wait({
        comment:
          'A step invocation still running when the execution stopped finishes anyway; let it land before the rollback reads the flags.',
        secondsPath: '$.route.incident.settleSeconds',
        next: 'ConfirmRecord',
      }),
      ConfirmRecord: lambda('plan-response', {
        comment:
          'Did the stopped cutover record its change? If not, it changed nothing and there is nothing to roll back.',
        parameters: { phase: 'confirm', 'changeId.$': '$.plan.changeId' },
        resultPath: '$.response.confirm',
        catch: [onError('ChooseRollback', { resultPath: '$.response.confirmError' })],
        next: 'IsChangeRecorded',
      }),
      IsChangeRecorded: choice({
        comment:
          'No change record: nothing to roll back, only the lock to release. Otherwise (or unknown) roll back.',
        choices: [{ Variable: '$.response.confirm.recorded', BooleanEquals: false, next: 'ReleaseLock' }],
        default: 'ChooseRollback',
      }),
      AcquireLock: dynamodb('putItem', {
        comment:
          'Nothing in flight: the router takes the lock itself for the rollback it runs (which inherits it).',
        parameters: {
          TableName: TABLE,
          Item: {
            ...LOCK_KEY,
            owner: ME,
            holder: ME,
            procedure: { S: 'rollback-router' },
            status: { S: 'held' },
            acquiredAt: { 'S.$': '$$.Execution.StartTime' },
            changeId: { 'S.$': '$.plan.changeId' },
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
        resultPath: null,
        catch: lockConflict,
        next: 'ChooseRollback',
      }),
      CountLockAttempt: pass({
        comment: 'The lock changed between reading and taking it: read it again, a few times at most.',
        parameters: { 'n.$': 'States.MathAdd($.response.lockAttempts.n, 1)' },
        resultPath: '$.response.lockAttempts',
        next: 'RetryLock',
      }),
      RetryLock: choice({
        comment: 'Fewer than three attempts: read the lock again. Otherwise give up and hold.',
        choices: [{ Variable: '$.response.lockAttempts.n', NumericLessThan: 3, next: 'ReadLock' }],
        default: 'LockKeptChanging',
      }),
      LockKeptChanging: hold({
        why: 'The environment lock changed hands three times while the router tried to take it; nothing was changed',
      }),
      ChooseRollback: choice({
        comment: 'One branch per rollback procedure (functions/shared/alarm-catalog.ts ROLLBACK_PROCEDURES).',
        choices: ROLLBACKS.map((r) => ({
          Variable: '$.plan.procedure',
          StringEquals: r.procedure,
          next: r.state,
        })),
        default: 'NoRollbackProcedure',
      }),
      NoRollbackProcedure: pass({
        comment: 'The plan names a procedure the router has no branch for: a ConfigurationError, reported.',
        parameters: {
          Error: 'ConfigurationError',
          'Cause.$': "States.Format('The rollback router has no branch for procedure {}', $.plan.procedure)",
        },
        resultPath: '$.response.rollbackFailure',
        next: 'IsTakeover',
      }),
      IsTakeover: choice({
        comment:
          'The rollback did not run or did not verify: after stopping a cutover in flight the environment may be half changed, so it is held; otherwise the lock is released (a rollback that could not verify has marked it needs-operator itself, and it stays).',
        choices: [{ Variable: '$.plan.action', StringEquals: 'stop-in-flight', next: 'EnterMaintenance' }],
        default: 'ReleaseLock',
      }),
    },
    ...ROLLBACKS.map((r) =>
      delegateAndStart({ delegate: r.state, start: r.start }, r.procedure, {
        comment: r.comment,
        owner: '$$.Execution.Id',
        input: {
          'reason.$': "States.Format('Alarm {}: {}', $.route.alarm.name, $.route.alarm.title)",
          requestedBy: 'switchback-rollback-router',
          'changeId.$': '$.plan.changeId',
          'parentExecutionId.$': '$$.Execution.Id',
          trigger: { source: 'alarm', 'error.$': '$.route.alarm.name', 'cause.$': '$.route.alarm.reason' },
        },
        resultSelector: {
          'executionArn.$': '$.ExecutionArn',
          'status.$': '$.Status',
          'startDate.$': '$.StartDate',
          'stopDate.$': '$.StopDate',
          'output.$': '$.Output',
        },
        resultPath: '$.response.rollback',
        // All or hold: after a takeover, a rollback that did not run or did not verify never leaves a
        // released lock over a half-changed environment (a stopped cutover's flags, unverified).
        catch: [onError('IsTakeover', { resultPath: '$.response.rollbackFailure' })],
        next: 'ReleaseLock',
      }),
    ),
    holdForOperator({ next: 'WriteReport', owner: '$$.Execution.Id', timingPath: '$.route.timing' }),
    {
      ReleaseLock: dynamodb('deleteItem', {
        comment:
          "Releases the router's lock unless the rollback marked it needs-operator (it could not verify).",
        parameters: {
          TableName: TABLE,
          Key: LOCK_KEY,
          ConditionExpression: '#owner = :me AND #status = :held',
          ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
          ExpressionAttributeValues: { ':me': ME, ':held': { S: 'held' } },
          ReturnValues: 'ALL_OLD',
        },
        resultPath: '$.response.lockRelease',
        catch: [
          onError('WriteReport', {
            errors: ['DynamoDB.ConditionalCheckFailedException'],
            resultPath: '$.response.lockReleaseError',
          }),
        ],
        next: 'WriteReport',
      }),
      WriteReport: lambda('incident-report', {
        comment:
          "Incident report (seed 001's template) as JSON and Markdown under incidents/<env>/, and the recovery-time phases as metrics.",
        parameters: {
          'incidentId.$': '$.route.incident.id',
          'executionId.$': '$$.Execution.Id',
          'routerStartedAt.$': '$$.Execution.StartTime',
          'route.$': '$.route',
          'plan.$': '$.plan',
          'response.$': '$.response',
        },
        resultPath: '$.report',
        catch: [onError('DescribeReportFailed', { resultPath: '$.reportError' })],
        next: 'CloseIncident',
      }),
      CloseIncident: dynamodb('updateItem', {
        comment:
          'Closes the incident with its outcome and report; it keeps absorbing alarms for the cool-down.',
        parameters: {
          TableName: TABLE,
          Key: INCIDENT_KEY,
          UpdateExpression: 'SET #status = :outcome, reportKey = :report, expiresAt = :until',
          ConditionExpression: 'incidentId = :id',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':outcome': { 'S.$': '$.report.outcome' },
            ':report': { 'S.$': '$.report.reportKey' },
            ':until': { 'N.$': '$.report.incidentExpiresAt' },
            ':id': { 'S.$': '$.route.incident.id' },
          },
        },
        resultPath: null,
        catch: [onError('TakeReportNotice', { resultPath: '$.closeError' })],
        next: 'TakeReportNotice',
      }),
      TakeReportNotice: pass({
        comment:
          'The report wrote the notice (outcome, summary, report location): it is what gets published.',
        inputPath: '$.report.notice',
        resultPath: '$.notice',
        next: 'Notify',
      }),
      DescribeReportFailed: notice({
        comment: 'The router acted but the incident report could not be written: an operator must look.',
        outcome: 'report-failed',
        subject: 'Switchback: ACTION NEEDED - alarm handled, incident report not written',
        summary:
          '{} went to ALARM in ${Environment}. The router acted ({}) but could not write the incident report ({}: {}). See execution {} for what happened.',
        args: [
          '$.route.alarm.name',
          '$.plan.why',
          '$.reportError.Error',
          '$.reportError.Cause',
          '$$.Execution.Id',
        ],
        fields: { 'alarm.$': '$.route.alarm.name' },
        next: 'Notify',
      }),
    },
    notifyAndEnd({
      endings: [
        {
          outcome: 'rollback-failed',
          fail: 'RollbackFailed',
          error: 'RollbackFailedError',
          comment: 'The rollback did not verify: held for an operator.',
        },
        {
          outcome: 'rollback-refused',
          fail: 'RollbackRefused',
          error: 'RollbackRefusedError',
          comment: 'The rollback refused to run: nothing was rolled back.',
        },
        {
          outcome: 'report-failed',
          fail: 'ReportNotWritten',
          error: 'IncidentReportError',
          comment: 'The alarm was handled but its incident report was not written.',
        },
      ],
      otherwise: { succeed: 'Done', comment: 'The alarm was handled and the incident reported.' },
    }),
  ),
} satisfies Source;
