import { join } from 'node:path';
import { build } from 'esbuild';

/** Compiles the reference API and sidecar to plain JavaScript so each restart is a fast `node x.js`. */
export async function buildReferenceStack(outdir: string): Promise<{ api: string; sidecar: string }> {
  await build({
    entryPoints: { api: join(__dirname, 'api.ts'), sidecar: join(__dirname, 'sidecar.ts') },
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Native module: loaded from the project's node_modules (the services run with NODE_PATH set).
    external: ['better-sqlite3'],
    logLevel: 'silent',
  });
  return { api: join(outdir, 'api.js'), sidecar: join(outdir, 'sidecar.js') };
}
