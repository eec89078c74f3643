import type { JournalEntry } from './journal';
import { type AlarmHistory, type LkgOptions, lastKnownGood, type Verdict } from './last-known-good';
import type { WatchedValue } from './ports';
import { invalidReason, type WatchedParameter } from './watched-config';

/**
 * What a config rollback would do, parameter by parameter, from the journal, the alarms' history
 * and each parameter's current version. The procedure (and its plan mode) acts on exactly this;
 * nothing here changes anything. A value is restored by value, as a new version, so the
 * parameter's history stays intact and the journal sees the restore like any other change.
 */
export type ParameterPlan =
  | {
      readonly key: string;
      readonly name: string;
      readonly action: 'restore';
      readonly from: string;
      readonly fromVersion: number;
      readonly to: string;
      /** The version that held the last known good value. */
      readonly lkgVersion: number | null;
      /** Readers that take the value at start: restarted so the restored value applies. */
      readonly restart: readonly string[];
      readonly undoes: readonly string[];
      readonly reason: string;
    }
  | {
      readonly key: string;
      readonly name: string;
      readonly action: 'nothing';
      readonly undoes: readonly string[];
      readonly reason: string;
    }
  | {
      readonly key: string;
      readonly name: string;
      readonly action: 'hold';
      readonly undoes: readonly string[];
      readonly reason: string;
      readonly verdicts: readonly Verdict[];
    };

export function planConfigRollback(o: {
  readonly parameters: readonly { readonly key: string; readonly parameter: WatchedParameter }[];
  readonly entries: readonly JournalEntry[];
  readonly history: AlarmHistory;
  readonly current: Readonly<Record<string, WatchedValue | undefined>>;
  readonly options: LkgOptions;
}): ParameterPlan[] {
  return o.parameters.map(({ key, parameter }): ParameterPlan => {
    const { name } = parameter;
    const subject = `parameter:${key}`;
    const hold = (reason: string, undoes: readonly string[], verdicts: readonly Verdict[] = []) =>
      ({ key, name, action: 'hold', undoes, reason, verdicts }) as const;
    if (!o.entries.some((e) => e.subject === subject)) {
      return { key, name, action: 'nothing', undoes: [], reason: `the journal has no change of ${key}` };
    }
    const current = o.current[key];
    if (!current) return hold(`${name} does not exist now; a deleted parameter is restored by hand`, []);
    const lkg = lastKnownGood(subject, o.entries, o.history, o.options);
    if (!lkg.known) return hold(lkg.reason, lkg.since, lkg.verdicts);
    if (parameter.secure || current.type === 'SecureString') {
      // By design no SecureString value is ever read, so none can be restored by value.
      return hold(
        `${name} is a SecureString: its values are never read, so it cannot be restored by value; put back version ${lkg.lkg.state.type === 'parameter' ? lkg.lkg.state.version : '?'} by hand`,
        lkg.since,
        lkg.verdicts,
      );
    }
    const state = lkg.lkg.state;
    const to = state.type === 'parameter' ? state.value : null;
    if (to === null) return hold(`the last known good value of ${key} is not in the journal`, lkg.since);
    const invalid = invalidReason(parameter.validator, to);
    if (invalid) return hold(`the last known good value of ${key}, "${to}", is ${invalid} now`, lkg.since);
    if (current.value === to) {
      return {
        key,
        name,
        action: 'nothing',
        undoes: [],
        reason: `${key} already holds its last known good value "${to}" (version ${current.version})`,
      };
    }
    return {
      key,
      name,
      action: 'restore',
      from: current.value ?? '',
      fromVersion: current.version,
      to,
      lkgVersion: state.type === 'parameter' ? state.version : null,
      restart: parameter.readers.filter((r) => r.reads === 'at-start').map((r) => r.service),
      undoes: lkg.since,
      reason: `"${current.value}" (version ${current.version}) went in after the last known good "${to}" (in service since ${lkg.lkg.since ?? 'before the journal'})`,
    };
  });
}
