/**
 * `npm run asl`: renders every procedure source to `statemachines/<name>.asl.json`.
 * `npm run asl -- --check`: changes nothing; exits 1 naming each committed file that differs from
 * what its source renders, each source without a committed file and each committed file without a
 * source. CI runs the check, so a hand edit of a generated file never lands.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Definition } from './asl';
import { PROCEDURES } from './index';

export const STATEMACHINES_DIR = join(__dirname, '..', 'statemachines');

/** The text a definition is committed as. */
export function render(definition: Definition): string {
  return `${JSON.stringify(definition, null, 2)}\n`;
}

/** What differs between the sources and the files in `dir`, one line each; empty when in step. */
export function drift(
  dir: string = STATEMACHINES_DIR,
  procedures: Readonly<Record<string, Definition>> = PROCEDURES,
): string[] {
  const problems: string[] = [];
  for (const [name, definition] of Object.entries(procedures)) {
    const path = join(dir, `${name}.asl.json`);
    if (!existsSync(path)) problems.push(`${name}.asl.json is missing: run npm run asl`);
    else if (readFileSync(path, 'utf8') !== render(definition))
      problems.push(`${name}.asl.json differs from procedures/ (edited by hand?): run npm run asl`);
  }
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.asl.json'))) {
    const name = file.replace(/\.asl\.json$/, '');
    if (!(name in procedures)) problems.push(`${file} has no source in procedures/`);
  }
  return problems;
}

/** Writes every rendered definition that changed; returns the names written. */
export function write(dir: string = STATEMACHINES_DIR): string[] {
  const written: string[] = [];
  for (const [name, definition] of Object.entries(PROCEDURES)) {
    const path = join(dir, `${name}.asl.json`);
    const text = render(definition);
    if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
    writeFileSync(path, text);
    written.push(name);
  }
  return written;
}

if (require.main === module) {
  if (process.argv.includes('--check')) {
    const problems = drift();
    for (const p of problems) console.error(`asl: ${p}`);
    if (problems.length) process.exit(1);
    console.log(`asl: ${Object.keys(PROCEDURES).length} definitions match their sources`);
  } else {
    const written = write();
    console.log(written.length ? `asl: wrote ${written.join(', ')}` : 'asl: every definition is up to date');
  }
}
