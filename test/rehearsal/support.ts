import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** The CLI as a person runs it (through tsx), for tests of its exit codes and output. */
export const CLI = join(__dirname, '..', '..', 'bin', 'switchback-cli.ts');
export const TSX = join(__dirname, '..', '..', 'node_modules', '.bin', 'tsx');

/** Fresh temporary folders, removed after the file's tests. */
export function tempDirs(prefix: string): () => string {
  const made: string[] = [];
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    made.push(d);
    return d;
  };
}
