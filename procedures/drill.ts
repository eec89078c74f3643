/**
 * Rollback drill (seed 001's monthly drills, seed 004's quarterly ones), through the real
 * detection path: the drill makes a change of its own (the drill marker), puts a rollback alarm
 * into ALARM with a reason that names the drill, so the same EventBridge rule starts the router,
 * which recognises the drill and rolls back the drill's change only; the drill waits for that
 * rollback, sets the alarm back to OK and reports each phase against seed 004's targets. It takes
 * no lock (the router does) and never starts while a change holds the lock, an incident is open,
 * the kill switch is on or a rollback alarm is in ALARM.
 */
import { choice, dynamodb, lambda, onError, pass, states, wait } from './asl';
import type { Source } from './budget';
import { notice, notifyAndEnd, validateInput } from './protocol';

const COMMON = { 'drillId.$': '$.request.drillId', 'marker.$': '$.request.marker' };
const refused = [onError('DescribeRefused', { resultPath: '$.failure' })];
const undo = [onError('Undo', { resultPath: '$.failure' })];

export default {
  Comment:
    "Rollback drill through the real detection path: the drill's own change, the rollback alarm set to ALARM naming the drill, the router's rollback of that change only, the alarm back to OK, each phase reported against seed 004's targets. Refused while a change holds the lock, an incident is open, the kill switch is on or a rollback alarm is in ALARM.",
  StartAt: 'ValidateInput',
  States: states(
    validateInput({ procedure: 'drill', step: 'drill-input', next: 'ReadLock' }),
    {
      ReadLock: dynamodb('getItem', {
        comment: 'A change in flight holds the lock: no drill beside it.',
        parameters: {
          TableName: '${LockTableName}',
          Key: { pk: { S: '${Environment}' } },
          ConsistentRead: true,
        },
        resultPath: '$.lock',
        catch: refused,
        next: 'IsLockFree',
      }),
      IsLockFree: choice({
        comment: 'The lock is held: refused, nothing changed.',
        choices: [{ Variable: '$.lock.Item', IsPresent: true, next: 'LockHeldNow' }],
        default: 'ReadIncident',
      }),
      LockHeldNow: pass({
        comment: 'Says who holds the lock, as read.',
        parameters: {
          Error: 'DrillRefusedError',
          'Cause.$':
            "States.Format('{} ({}) holds the environment lock: no drill beside a change. Nothing was changed.', $.lock.Item.owner.S, $.lock.Item.procedure.S)",
        },
        resultPath: '$.failure',
        next: 'DescribeRefused',
      }),
      ReadIncident: dynamodb('getItem', {
        comment: 'An open incident: the router is busy with something real; no drill now.',
        parameters: {
          TableName: '${LockTableName}',
          Key: { pk: { S: '${Environment}#incident' } },
          ConsistentRead: true,
        },
        resultPath: '$.incident',
        catch: refused,
        next: 'IsIncidentOpen',
      }),
      IsIncidentOpen: choice({
        comment: 'An incident still open (not closed with an outcome): refused.',
        choices: [
          {
            And: [
              { Variable: '$.incident.Item', IsPresent: true },
              { Variable: '$.incident.Item.status.S', StringEquals: 'open' },
            ],
            next: 'IncidentOpenNow',
          },
        ],
        default: 'Preflight',
      }),
      IncidentOpenNow: pass({
        comment: 'Names the open incident, as read.',
        parameters: {
          Error: 'DrillRefusedError',
          'Cause.$':
            "States.Format('Incident {} is open: a real incident comes first, no drill now. Nothing was changed.', $.incident.Item.incidentId.S)",
        },
        resultPath: '$.failure',
        next: 'DescribeRefused',
      }),
      Preflight: lambda('drill', {
        comment: 'The kill switch off, the drill marker at rest, no rollback alarm in ALARM now.',
        parameters: { action: 'preflight', ...COMMON },
        resultPath: '$.preflight',
        catch: refused,
        next: 'MakeChange',
      }),
      MakeChange: lambda('drill', {
        comment:
          "The drill's own change: the drill marker set to true (a new version, journaled like any change).",
        parameters: { action: 'change', ...COMMON },
        resultPath: '$.change',
        catch: undo,
        next: 'RaiseAlarm',
      }),
      RaiseAlarm: lambda('drill', {
        comment:
          'SetAlarmState ALARM on the rollback alarm, with a reason that names the drill: the EventBridge rule starts the router as for a real alarm.',
        parameters: { action: 'raise', ...COMMON, 'alarmName.$': '$.request.alarmName' },
        resultPath: '$.raised',
        catch: undo,
        next: 'StartWatching',
      }),
      StartWatching: pass({
        comment: 'Counts the looks at the drill marker.',
        result: { attempt: 0, done: false, exhausted: false },
        resultPath: '$.watch',
        next: 'WaitForRollback',
      }),
      WaitForRollback: wait({
        comment: 'Gives the router one poll interval to detect, decide and roll back.',
        secondsPath: '$.request.pollSeconds',
        next: 'Observe',
      }),
      Observe: lambda('drill', {
        comment:
          'Was the drill marker put back (a newer version, false)? That is the router rolling the drill back.',
        parameters: {
          action: 'observe',
          ...COMMON,
          'changedVersion.$': '$.change.version',
          'changedAt.$': '$.change.at',
          'attempt.$': '$.watch.attempt',
          'polls.$': '$.request.polls',
        },
        resultPath: '$.watch',
        catch: undo,
        next: 'IsRolledBack',
      }),
      IsRolledBack: choice({
        comment:
          'Rolled back: report. Out of looks: the drill failed, its change is undone. Otherwise look again.',
        choices: [
          { Variable: '$.watch.done', BooleanEquals: true, next: 'ResetAlarm' },
          { Variable: '$.watch.exhausted', BooleanEquals: true, next: 'NotRolledBack' },
        ],
        default: 'WaitForRollback',
      }),
      NotRolledBack: pass({
        comment: 'The rollback never came, as observed: recorded as DrillFailedError.',
        parameters: {
          Error: 'DrillFailedError',
          'Cause.$':
            "States.Format('The router did not roll back the drill marker within {} looks, {} s apart (it is {} at version {}).', $.watch.attempt, $.request.pollSeconds, $.watch.value, $.watch.version)",
        },
        resultPath: '$.failure',
        next: 'Undo',
      }),
      ResetAlarm: lambda('drill', {
        comment:
          'SetAlarmState OK: the drill alarm goes back; CloudWatch re-evaluates it at its next period.',
        parameters: { action: 'reset', ...COMMON, 'alarmName.$': '$.request.alarmName' },
        resultPath: '$.reset',
        catch: [onError('ReadIncidentAfter', { resultPath: '$.resetError' })],
        next: 'ReadIncidentAfter',
      }),
      ReadIncidentAfter: dynamodb('getItem', {
        comment:
          "Which alarms the drill's incident recorded: another one would have been deduplicated into it.",
        parameters: {
          TableName: '${LockTableName}',
          Key: { pk: { S: '${Environment}#incident' } },
          ConsistentRead: true,
        },
        resultPath: '$.incidentAfter',
        catch: [onError('NoIncidentAlarms', { resultPath: '$.incidentReadError' })],
        next: 'HasIncidentAlarms',
      }),
      HasIncidentAlarms: choice({
        comment: 'The incident item lists its alarms; without one, none was recorded.',
        choices: [{ Variable: '$.incidentAfter.Item.alarms.L', IsPresent: true, next: 'TakeIncidentAlarms' }],
        default: 'NoIncidentAlarms',
      }),
      TakeIncidentAlarms: pass({
        comment: "The alarms recorded on the drill's incident.",
        parameters: { 'list.$': '$.incidentAfter.Item.alarms.L' },
        resultPath: '$.seen',
        next: 'Report',
      }),
      NoIncidentAlarms: pass({
        comment: 'No alarm recorded (or the incident could not be read): none to account for.',
        result: { list: [] },
        resultPath: '$.seen',
        next: 'Report',
      }),
      Report: lambda('drill', {
        comment:
          'Each phase against seed 004 targets: drills/<env>/<drill>.json and .md, DrillSeconds metrics by kind and phase.',
        parameters: {
          action: 'report',
          ...COMMON,
          'kind.$': '$.request.kind',
          'alarmName.$': '$.request.alarmName',
          'startedAt.$': '$.request.startedAt',
          'changedAt.$': '$.change.at',
          'raisedAt.$': '$.raised.at',
          'rolledBackAt.$': '$.watch.at',
          'incidentAlarms.$': '$.seen.list',
        },
        resultPath: '$.report',
        catch: [onError('DescribeDrilledUnreported', { resultPath: '$.reportError' })],
        next: 'AnyRealAlarm',
      }),
      AnyRealAlarm: choice({
        comment:
          "A real alarm deduplicated into the drill's incident was handled by no router: say so, loudly.",
        choices: [{ Variable: '$.report.realAlarms[0]', IsPresent: true, next: 'DescribeRealAlarm' }],
        default: 'DescribeDrilled',
      }),
      DescribeRealAlarm: notice({
        comment: 'The drill passed, but another rollback alarm fired during it and nothing rolled it back.',
        outcome: 'drill-failed',
        subject: 'Switchback: ACTION NEEDED - a real alarm fired during a rollback drill',
        summary:
          'Rollback drill {} in ${Environment} passed, but {} went to ALARM during it and was recorded on the incident of the drill: no rollback ran for it. Check it now; if it is still in ALARM, start the rollback by hand. Report: {}',
        args: ['$.request.drillId', '$.report.realAlarmNames', '$.report.reportKey'],
        fields: {
          'realAlarms.$': '$.report.realAlarms',
          error: 'DrillFailedError',
          cause: 'A real rollback alarm fired during the drill',
          drill: true,
        },
        next: 'Notify',
      }),
      DescribeDrilled: notice({
        comment: "The drill's change was detected and rolled back: the notice gives the phases.",
        outcome: 'drilled',
        subject: 'Switchback: rollback drill passed',
        summary:
          'Rollback drill {} in ${Environment}: the alarm {} started the router, which rolled back the drill change in {} s (alarm -> rolled back). Report: {}',
        args: [
          '$.request.drillId',
          '$.request.alarmName',
          '$.report.phases.alarmToRolledBack',
          '$.report.reportKey',
        ],
        fields: { 'phases.$': '$.report.phases', 'withinTarget.$': '$.report.withinTarget', drill: true },
        next: 'Notify',
      }),
      DescribeDrilledUnreported: notice({
        comment: 'Rolled back, but the report could not be written.',
        outcome: 'drilled',
        subject: 'Switchback: rollback drill passed, report not written',
        summary:
          'Rollback drill {} in ${Environment} was rolled back by the router; its report failed ({}: {}).',
        args: ['$.request.drillId', '$.reportError.Error', '$.reportError.Cause'],
        fields: { drill: true },
        next: 'Notify',
      }),
      Undo: lambda('drill', {
        comment:
          'The drill did not pass: its own change undone (the marker back to false), if it is still there.',
        parameters: { action: 'undo', ...COMMON },
        resultPath: '$.undo',
        catch: [onError('ResetAlarmAfterFailure', { resultPath: '$.undoError' })],
        next: 'ResetAlarmAfterFailure',
      }),
      ResetAlarmAfterFailure: lambda('drill', {
        comment: 'SetAlarmState OK after a failed drill (when the alarm was raised).',
        parameters: { action: 'reset', ...COMMON, 'alarmName.$': '$.request.alarmName' },
        resultPath: '$.reset',
        catch: [onError('DescribeFailed', { resultPath: '$.resetError' })],
        next: 'DescribeFailed',
      }),
      DescribeFailed: notice({
        comment: 'The drill failed: what failed, and that its own change was undone.',
        outcome: 'drill-failed',
        subject: 'Switchback: ACTION NEEDED - rollback drill failed',
        summary:
          'Rollback drill {} in ${Environment} failed ({}: {}). Its own change was undone where it was still there; nothing real was touched.',
        args: ['$.request.drillId', '$.failure.Error', '$.failure.Cause'],
        fields: { 'error.$': '$.failure.Error', 'cause.$': '$.failure.Cause', drill: true },
        next: 'Notify',
      }),
      DescribeRefused: notice({
        comment: 'Not safe to drill now: nothing was changed.',
        outcome: 'drill-refused',
        subject: 'Switchback: rollback drill refused, nothing changed',
        summary: 'Rollback drill in ${Environment} refused before changing anything: {}: {}',
        args: ['$.failure.Error', '$.failure.Cause'],
        fields: { 'error.$': '$.failure.Error', 'cause.$': '$.failure.Cause', changed: false, drill: true },
        next: 'Notify',
      }),
    },
    notifyAndEnd({
      endings: [
        {
          outcome: 'drill-failed',
          fail: 'DrillFailed',
          error: 'DrillFailedError',
          comment: 'The drill did not pass.',
        },
        {
          outcome: 'drill-refused',
          fail: 'DrillRefused',
          error: 'DrillRefusedError',
          comment: 'Not safe to drill now.',
        },
      ],
      otherwise: {
        succeed: 'Drilled',
        comment: 'The drill passed: detected, rolled back, verified, reported.',
      },
    }),
  ),
} satisfies Source;
