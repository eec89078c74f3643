import { type ChildProcess, spawn } from 'node:child_process';

/** Spawns a client tool with libpq settings in its environment (never in its arguments). */
export function spawnTool(command: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawn(command, args, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Resolves with the exit code and the tail of stderr (for error messages). */
export function finished(child: ChildProcess, maxStderr = 4000): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-maxStderr);
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) =>
      resolve({ code: code ?? (signal ? 128 : 1), stderr: stderr.trim() }),
    );
  });
}
