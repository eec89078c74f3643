import type { z } from 'zod';
import { DatabaseCutoverInput, DatabaseRollbackInput } from '../functions/database-input/database-input';
import { DrillInput } from '../functions/drill-input/drill-input';
import { FeatureDisableInput, FeatureRolloutInput } from '../functions/feature-input/feature-input';
import { CodeRollbackInput, ConfigRollbackInput } from '../functions/rollback-input/rollback-input';
import { parseOrThrow } from '../functions/shared/config';
import { InvalidInputError } from '../functions/shared/errors';
import { BackupInput, RestoreInput } from '../functions/validate-data-input/validate-data-input';
import { ProviderCutoverInput, ProviderRollbackInput } from '../functions/validate-input/validate-input';

/**
 * The execution input schema of every procedure an operator starts: the very schemas the
 * procedures' `ValidateInput` step parses with, so `switchback start` refuses locally what the
 * execution would refuse, before anything is started. The rollback router and the lock janitor
 * are started by EventBridge, never by hand.
 */
export const START_INPUTS = {
  'provider-cutover': ProviderCutoverInput,
  'provider-rollback': ProviderRollbackInput,
  'feature-rollout': FeatureRolloutInput,
  'feature-disable': FeatureDisableInput,
  'database-cutover': DatabaseCutoverInput,
  'database-rollback': DatabaseRollbackInput,
  backup: BackupInput,
  'restore-postgres': RestoreInput,
  'restore-sqlite': RestoreInput,
  'code-rollback': CodeRollbackInput,
  'config-rollback': ConfigRollbackInput,
  drill: DrillInput,
} as const satisfies Record<string, z.ZodType>;

/** Procedures started by events, not by operators. */
export const EVENT_STARTED = ['rollback-router', 'lock-janitor'] as const;

/**
 * Parses a `start` input with its procedure's schema: InvalidInputError naming each bad field, or
 * naming the procedures that can be started.
 */
export function checkStartInput(procedure: string, input: unknown): void {
  const schema = (START_INPUTS as Record<string, z.ZodType>)[procedure];
  if (!schema) {
    const why = (EVENT_STARTED as readonly string[]).includes(procedure)
      ? `${procedure} is started by EventBridge, not by hand`
      : `${procedure} is not a procedure`;
    throw new InvalidInputError(
      `${why}; an operator starts one of: ${Object.keys(START_INPUTS).join(', ')}. Nothing was started.`,
    );
  }
  parseOrThrow(schema, input, InvalidInputError, `${procedure} input (nothing was started)`);
}
