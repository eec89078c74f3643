import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { RUNTIME_CONFIG_ENV, type RuntimeConfig } from '../functions/shared/config';
import { RESOURCE } from '../procedures/integrations';
import type { Integration } from './engine';

const NODE_MODULES = join(__dirname, '..', 'node_modules');

/** Bundles the data task (tasks/data/task.ts) to one JavaScript file, as its image would run it. */
export async function buildDataTask(outdir: string): Promise<string> {
  await build({
    entryPoints: { 'data-task': join(__dirname, '..', 'tasks', 'data', 'task.ts') },
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'silent',
    external: ['better-sqlite3', 'pg-native'],
  });
  return join(outdir, 'data-task.js');
}

interface RunTaskParameters {
  Overrides?: { ContainerOverrides?: { Name?: string; Environment?: { Name: string; Value: string }[] }[] };
}

/**
 * `arn:aws:states:::ecs:runTask.sync` locally: the data task runs as a child process with the
 * container overrides as its environment and the database credentials as ECS would inject them.
 * Like the real integration, a non-zero exit fails the state with States.TaskFailed.
 */
export function dataTaskIntegration(options: {
  script: string;
  config: RuntimeConfig;
  /** What ECS injects into the container: libpq settings (PGPASSWORD from a secret), S3 endpoint. */
  environment: () => Record<string, string>;
  logFile: string;
}): Integration {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  let counter = 0;
  return {
    matches: (resource) => resource === RESOURCE.ecsRunTaskSync,
    async run(input) {
      const params = input as RunTaskParameters;
      const overrides = Object.fromEntries(
        (params.Overrides?.ContainerOverrides?.[0]?.Environment ?? []).map((e) => [e.Name, e.Value]),
      );
      const taskArn = `arn:aws:ecs:local-1:000000000000:task/local/${++counter}`;
      const child = spawn(process.execPath, [options.script], {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          NODE_PATH: NODE_MODULES,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          [RUNTIME_CONFIG_ENV]: JSON.stringify(options.config),
          ...options.environment(),
          ...overrides,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.pipe(log, { end: false });
      child.stderr?.pipe(log, { end: false });
      const code = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (c) => resolve(c ?? 1));
      });
      const description = {
        TaskArn: taskArn,
        LastStatus: 'STOPPED',
        StopCode: 'EssentialContainerExited',
        Containers: [{ Name: 'data-task', ExitCode: code, LastStatus: 'STOPPED' }],
      };
      if (code !== 0) {
        const failure = new Error(JSON.stringify(description));
        failure.name = 'States.TaskFailed';
        throw failure;
      }
      return description;
    },
  };
}
