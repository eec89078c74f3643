import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const STATEMACHINES_DIR = join(__dirname, '..', 'statemachines');

/** Names of the procedures: the `*.asl.json` files in `statemachines/`. */
export function procedureNames(): string[] {
  return readdirSync(STATEMACHINES_DIR)
    .filter((f) => f.endsWith('.asl.json'))
    .map((f) => f.replace(/\.asl\.json$/, ''))
    .sort();
}

export function readDefinitionText(procedure: string): string {
  return readFileSync(join(STATEMACHINES_DIR, `${procedure}.asl.json`), 'utf8');
}

/** `${Name}` placeholders used by a definition, in order of first use. */
export function placeholdersOf(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1] as string))];
}

/** Replaces every placeholder; throws naming any placeholder left without a value. */
export function substitute(text: string, values: Record<string, string>): string {
  const missing = placeholdersOf(text).filter((p) => !(p in values));
  if (missing.length) throw new Error(`No substitution for placeholder(s): ${missing.join(', ')}`);
  return text.replace(/\$\{([A-Za-z0-9]+)\}/g, (_m, name: string) => values[name] as string);
}

export interface TaskState {
  readonly name: string;
  readonly resource: string;
  readonly definition: Record<string, unknown>;
}

/** Every Task state of a definition, including those inside Parallel branches and Map processors. */
export function taskStates(definition: { States: Record<string, Record<string, unknown>> }): TaskState[] {
  const out: TaskState[] = [];
  const walk = (states: Record<string, Record<string, unknown>>) => {
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === 'Task') out.push({ name, resource: String(state.Resource), definition: state });
      for (const branch of (state.Branches as { States: Record<string, Record<string, unknown>> }[]) ?? []) {
        walk(branch.States);
      }
      const processor = (state.ItemProcessor ?? state.Iterator) as
        | { States: Record<string, Record<string, unknown>> }
        | undefined;
      if (processor) walk(processor.States);
    }
  };
  walk(definition.States);
  return out;
}
