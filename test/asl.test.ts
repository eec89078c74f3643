import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { functionPlaceholder, STEP_NAMES } from '../functions';
import { KNOWN_ERROR_NAMES } from '../functions/shared/errors';
import { placeholdersOf, procedureNames, readDefinitionText, taskStates } from '../local/definitions';

type State = Record<string, unknown> & {
  Type: string;
  Next?: string;
  Catch?: { ErrorEquals: string[]; Next: string }[];
};
type Definition = { StartAt: string; States: Record<string, State>; QueryLanguage?: string };

const PROCEDURES = procedureNames();
const load = (name: string) => JSON.parse(readDefinitionText(name)) as Definition;

/** Placeholders the CDK stack and the local engine both know how to fill. */
const SUBSTITUTABLE = new Set([
  'Environment',
  'LockTableName',
  'NotificationTopicArn',
  'DataTaskClusterArn',
  'DataTaskDefinitionArn',
  ...STEP_NAMES.map(functionPlaceholder),
  ...PROCEDURES.map(
    (p) => `${p.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase())}StateMachineArn`,
  ),
]);
/** Error name prefixes raised by Step Functions and its integrations, not by our code. */
const SERVICE_PREFIXES = ['States.', 'Lambda.', 'DynamoDB.', 'SNS.', 'ECS.'];
const TRANSIENT_LAMBDA = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

function successors(state: State): string[] {
  const out: string[] = [];
  if (state.Next) out.push(state.Next);
  if (state.Default) out.push(state.Default as string);
  for (const c of (state.Choices as { Next: string }[] | undefined) ?? []) out.push(c.Next);
  return out;
}

function reachable(def: Definition, from: string, follow: (s: State) => string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [from];
  while (queue.length) {
    const name = queue.shift() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    queue.push(...follow(def.States[name] as State));
  }
  return seen;
}

describe.each(PROCEDURES)('%s.asl.json', (name) => {
  const text = readDefinitionText(name);
  const def = load(name);

  it('is valid Amazon States Language', () => {
    const result = aslValidator(def);
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('uses JSONPath only (the local engine would silently misread JSONata)', () => {
    expect(text).not.toMatch(/"QueryLanguage"/);
    expect(text).not.toMatch(/\{%/);
  });

  it('uses only placeholders the stack substitutes, and no account-specific ARNs', () => {
    const unknown = placeholdersOf(text).filter((p) => !SUBSTITUTABLE.has(p));
    expect(unknown).toEqual([]);
    expect(text).not.toMatch(/arn:aws:[a-z0-9-]+:[a-z0-9-]+:\d{12}:/);
  });

  it('names only errors that exist in code or are raised by AWS', () => {
    const names = new Set<string>();
    for (const task of Object.values(def.States)) {
      for (const rule of [...((task.Retry as { ErrorEquals: string[] }[]) ?? []), ...(task.Catch ?? [])]) {
        for (const e of rule.ErrorEquals) names.add(e);
      }
      if (task.Type === 'Fail' && typeof task.Error === 'string') names.add(task.Error);
    }
    const unknown = [...names].filter(
      (n) => !KNOWN_ERROR_NAMES.has(n) && !SERVICE_PREFIXES.some((p) => n.startsWith(p)),
    );
    expect(unknown).toEqual([]);
  });

  it('retries the transient Lambda errors on every Lambda task and bounds each one with a timeout', () => {
    const lambdaTasks = taskStates(def).filter((t) => t.resource.endsWith('FunctionArn}'));
    for (const task of lambdaTasks) {
      const retried = ((task.definition.Retry as { ErrorEquals: string[] }[]) ?? []).flatMap(
        (r) => r.ErrorEquals,
      );
      expect(retried, task.name).toEqual(expect.arrayContaining(TRANSIENT_LAMBDA));
      expect(task.definition.TimeoutSeconds, task.name).toBeGreaterThan(0);
    }
    expect(lambdaTasks.length > 0 || name === 'lock-janitor').toBe(true);
  });

  it('has no dead states and every path ends', () => {
    const all = Object.keys(def.States);
    const seen = reachable(def, def.StartAt, (s) => [
      ...successors(s),
      ...(s.Catch ?? []).map((c) => c.Next),
    ]);
    expect(all.filter((s) => !seen.has(s))).toEqual([]);
    for (const [stateName, state] of Object.entries(def.States)) {
      const terminal = state.Type === 'Succeed' || state.Type === 'Fail' || state.End === true;
      expect(terminal || successors(state).length > 0, stateName).toBe(true);
    }
  });
});

describe('compensation', () => {
  const POINT_OF_NO_RETURN: Record<string, { from: string; until: string; compensation: string }> = {
    'provider-cutover': { from: 'SwitchToHttp', until: 'CloseChange', compensation: 'RollBack' },
    'provider-rollback': { from: 'RestoreFlags', until: 'HasChangeRecord', compensation: 'EnterMaintenance' },
    'restore-postgres': {
      from: 'StartMaintenance',
      until: 'UpdateRetention',
      compensation: 'RecoverMaintenance',
    },
    'restore-sqlite': {
      from: 'StartMaintenance',
      until: 'UpdateRetention',
      compensation: 'RecoverMaintenance',
    },
    'database-cutover': { from: 'MaintenanceOn', until: 'CloseChange', compensation: 'RollBack' },
    'database-rollback': { from: 'SwitchBack', until: 'HasChangeRecord', compensation: 'EnterMaintenance' },
  };

  it.each(Object.entries(POINT_OF_NO_RETURN))(
    '%s: every Task after the point of no return catches everything into its compensation',
    (name, { from, until, compensation }) => {
      const def = load(name);
      // The forward path: from the point of no return to the end of verification, not into the compensation.
      const forward = reachable(def, from, (s) =>
        s === def.States[until] ? [] : successors(s).filter((n) => n !== compensation),
      );
      const tasks = [...forward].filter((s) => (def.States[s] as State).Type === 'Task' && s !== until);
      expect(tasks.length).toBeGreaterThan(3);
      const catchesInto = (name: string) =>
        ((def.States[name] as State).Catch ?? []).some(
          (c) => c.ErrorEquals.includes('States.ALL') && c.Next === compensation,
        );
      for (const task of tasks) {
        const state = def.States[task] as State;
        // A data task (ECS) hands every outcome to the step that reads its recorded result; that step catches.
        const handsOver =
          state.Resource === 'arn:aws:states:::ecs:runTask.sync' &&
          (state.Catch ?? []).every((c) => c.Next === state.Next) &&
          catchesInto(state.Next as string);
        expect(catchesInto(task) || handsOver, task).toBe(true);
      }
    },
  );
});
