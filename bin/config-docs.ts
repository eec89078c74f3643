/**
 * `npm run docs:config`: writes the stage's JSON Schema (docs/stage.schema.json), the schema of
 * cdk.json (docs/cdk.schema.json) and the configuration reference (docs/configuration.md), all
 * generated from the zod schema in lib/config/. `npm run docs:config -- --check` changes nothing
 * and exits 1 naming each file that differs (CI runs it, so the docs cannot drift).
 */
import { CONFIG_DOCS, configDocsDrift, writeConfigDocs } from '../lib/config/docs';

if (process.argv.includes('--check')) {
  const problems = configDocsDrift();
  for (const p of problems) console.error(`docs:config: ${p}`);
  if (problems.length) process.exit(1);
  console.log(`docs:config: ${Object.values(CONFIG_DOCS).join(', ')} match lib/config`);
} else {
  const written = writeConfigDocs();
  console.log(
    written.length ? `docs:config: wrote ${written.join(', ')}` : 'docs:config: every file is up to date',
  );
}
