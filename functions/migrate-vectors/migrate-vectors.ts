import { z } from 'zod';
import { connectionParameter, databaseConfigOf } from '../shared/database-config';
import { ConfigurationError } from '../shared/errors';
import { defineStep } from '../shared/step';
import { connectorOf } from '../shared/vector-stores';
import { type Checkpoint, checkpointKey, readCheckpoint, summarize } from './checkpoint';
import { migrateUntil, targetDimension } from './pipeline';

const Input = z.strictObject({
  changeId: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/),
});

/**
 * Seed 002 step 2a, the final vector migration: Qdrant -> pgvector. Each invocation resumes from
 * the durable checkpoint, works until its time budget (well inside the Lambda limit) is spent,
 * and returns the cursor and counters; the state machine invokes it again until `done`. Any
 * collection size fits, and a crash (a retried invocation) resumes from the last committed batch
 * without losing or duplicating a point. A finished migration returns its summary unchanged.
 */
export const migrateVectors = defineStep({
  name: 'migrate-vectors',
  input: Input,
  async run(input, deps) {
    const { config, blobs, secrets, clock, log } = deps;
    const db = databaseConfigOf(config);
    const key = checkpointKey(db, config.environment, input.changeId);
    const existing = await readCheckpoint(blobs, key);
    if (existing?.done) {
      log.info('migration already finished', { changeId: input.changeId, pages: existing.pages });
      return summarize(existing);
    }
    const connector = connectorOf(deps);
    const apiKey = db.source.qdrant.apiKeyParameter
      ? await secrets.get(db.source.qdrant.apiKeyParameter)
      : undefined;
    const source = connector.qdrant({
      url: db.source.qdrant.url,
      collection: db.source.qdrant.collection,
      apiKey,
      vector: db.source.qdrant.vector,
    });
    const target = connector.postgres(await secrets.get(connectionParameter(db, db.target.connection)));
    const started = clock.now();
    let checkpoint: Checkpoint | undefined = existing;
    if (!checkpoint) {
      const dimension = await targetDimension(target, db.target.table);
      if (dimension === null) {
        throw new ConfigurationError(`Target table ${db.target.table} has no vector(N) column "embedding"`);
      }
      checkpoint = {
        schemaVersion: 1,
        changeId: input.changeId,
        collection: db.source.qdrant.collection,
        table: db.target.table,
        dimension,
        cursor: null,
        done: false,
        pages: 0,
        invocations: 0,
        counts: { total: 0, succeeded: 0, failed: 0, skipped: 0, written: 0 },
        failures: {},
        skips: {},
        samples: [],
        startedAt: started.toISOString(),
        updatedAt: started.toISOString(),
        finishedAt: null,
        activeSeconds: 0,
      };
    }
    log.info('migration invocation starting', {
      changeId: input.changeId,
      resumeFrom: checkpoint.cursor === null ? null : String(checkpoint.cursor),
      pages: checkpoint.pages,
    });
    const after = await migrateUntil(checkpoint, {
      source,
      target,
      table: db.target.table,
      orgKey: db.target.orgPayloadKey,
      vectorName: db.source.qdrant.vector,
      batchSize: db.migration.batchSize,
      deadline: started.getTime() + db.migration.timeBudgetSeconds * 1000,
      clock,
      checkpoint: { blobs, key },
    });
    log.info('migration invocation finished', {
      changeId: input.changeId,
      done: after.done,
      pages: after.pages,
      succeeded: after.counts.succeeded,
      failed: after.counts.failed,
      skipped: after.counts.skipped,
    });
    return summarize(after);
  },
});
