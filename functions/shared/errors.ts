/**
 * Named errors: the contract between step code and the state machines' Retry/Catch.
 *
 * Every class sets `name` to a stable string; the ASL files match on exactly these strings,
 * and a test checks that every custom error name used in ASL is declared here.
 */

export class SwitchbackError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The execution input (or a step's input) does not match its schema. Nothing was changed. */
export class InvalidInputError extends SwitchbackError {}

/** The stage or runtime configuration is missing or malformed. */
export class ConfigurationError extends SwitchbackError {}

/** A flag name that this environment does not define. */
export class UnknownFlagError extends SwitchbackError {}

/** A flag value that does not match the flag's schema (never treated as a default). */
export class InvalidFlagValueError extends SwitchbackError {}

/** A flag parameter that should exist does not. */
export class FlagNotFoundError extends SwitchbackError {}

/** A service answered its health endpoint with something other than healthy (or not at all). */
export class HealthCheckFailedError extends SwitchbackError {}

/** A write-then-recall smoke test did not recall what it wrote. */
export class SmokeTestFailedError extends SwitchbackError {}

/** The orchestrated service (ECS) does not exist or cannot be addressed. */
export class ServiceNotFoundError extends SwitchbackError {}

/** The service's deployment failed (ECS rollout FAILED, or the deployment vanished). */
export class DeploymentFailedError extends SwitchbackError {}

/**
 * A deployment cannot be stopped and rolled back: it is not among the service's deployments, its
 * rollout is no longer in progress, or ECS refused (StopServiceDeployment). Nothing was changed.
 */
export class DeploymentNotStoppableError extends SwitchbackError {}

/** No change record exists for the requested change id (or none at all). */
export class ChangeRecordNotFoundError extends SwitchbackError {}

/** A stored change record does not parse: it is never guessed at. */
export class ChangeRecordInvalidError extends SwitchbackError {}

/** Someone changed a flag after the cutover set it; a non-emergency rollback refuses to overwrite it. */
export class FlagDriftError extends SwitchbackError {}

/** The service never became stable within the bounded wait (raised by the state machines). */
export class ServiceNotStableError extends SwitchbackError {}

// Outcomes the state machines end with (Fail states). Declared here so code and ASL share the names.

/** Another cutover or rollback holds this environment's lock; nothing was changed. */
export class LockHeldError extends SwitchbackError {}

/** A preflight check failed before anything changed; the lock was released. */
export class PreflightFailedError extends SwitchbackError {}

/** The cutover failed after the flags changed and was rolled back, verified. */
export class CutoverRolledBackError extends SwitchbackError {}

/** The rollback refused to start (no record, flag drift); nothing was changed. */
export class RollbackRefusedError extends SwitchbackError {}

/** The rollback could not verify: maintenance mode is on and the lock is held for an operator. */
export class RollbackFailedError extends SwitchbackError {}

// Backups and restores.

/** No backup with that id (or no verified backup at all for "latest verified"). */
export class BackupNotFoundError extends SwitchbackError {}

/** The backup exists but was never proven restorable; it is not used for a restore. */
export class BackupNotVerifiedError extends SwitchbackError {}

/** The stored bytes do not hash to the recorded sha256 (corrupt or truncated): refused. */
export class BackupChecksumMismatchError extends SwitchbackError {}

/** A backup could not be proven restorable (restore into scratch failed, counts differ, integrity). */
export class BackupVerificationError extends SwitchbackError {}

/** Taking a backup failed (pg_dump, the SQLite backup API or the upload). */
export class BackupFailedError extends SwitchbackError {}

/** Restoring failed; the target was left as it was (restores go to a new database or file first). */
export class RestoreFailedError extends SwitchbackError {}

/** The restored target did not verify (row counts, integrity, the app). */
export class RestoreVerificationError extends SwitchbackError {}

/** A data task (ECS) ended without recording a result. */
export class DataTaskFailedError extends SwitchbackError {}

// Phased feature rollout and emergency disable (seed 003).

/** A rollout gate failed (metrics beyond thresholds for N consecutive evaluations, or a P0 alarm). */
export class GateFailedError extends SwitchbackError {}

/** An operator rejected the approval a rollout was waiting for (`switchback approve --reject`). */
export class ApprovalRejectedError extends SwitchbackError {}

/** The app does not serve what a rollout phase set (config, memory endpoints, stickiness). */
export class FeatureCheckFailedError extends SwitchbackError {}

/** The app still serves the feature after it was switched off, past the disable's time budget. */
export class FeatureNotDisabledError extends SwitchbackError {}

/** The metrics source could not be read (the gate then applies its missing-data policy). */
export class MetricsUnavailableError extends SwitchbackError {}

/** A stored rollout log does not parse: it is never guessed at. */
export class RolloutLogInvalidError extends SwitchbackError {}

/** No rollout log exists for the rollout id. */
export class RolloutLogNotFoundError extends SwitchbackError {}

/** The rollout stopped before changing anything (a malformed flag, the log could not be opened). */
export class RolloutRefusedError extends SwitchbackError {}

/** The rollout failed (gate, check, approval) and the feature was disabled, verified off. */
export class RolloutRolledBackError extends SwitchbackError {}

/** Someone else changed the feature flag during the rollout (an emergency disable): it stopped there. */
export class RolloutInterruptedError extends SwitchbackError {}

/**
 * The kill switch (`automation/paused`) is on: the rollout does not advance to its next phase; the
 * flag stays at the value the last passed phase set.
 */
export class AutomationPausedError extends SwitchbackError {}

/** A gate dry run could not finish; it never changes anything. */
export class DryRunFailedError extends SwitchbackError {}

// Alarm-started rollbacks (rollback router).

/** The rollback router acted on an alarm but could not write the incident report (the notification says what it did). */
export class IncidentReportError extends SwitchbackError {}

// Database cutover (seed 002): Qdrant -> pgvector.

/** The vector source (Qdrant) could not be read: unreachable, timed out, a 429 or a 5xx. Transient: retried. */
export class VectorSourceUnavailableError extends SwitchbackError {}

/** Qdrant refused the API key (401/403): a wrong or missing key is not retried. */
export class QdrantAuthenticationError extends SwitchbackError {}

/** Qdrant answered 404: the configured collection does not exist there. Not retried. */
export class QdrantCollectionNotFoundError extends SwitchbackError {}

/** Qdrant refused the request itself (400/422 and other 4xx): asking again would not help. */
export class QdrantRequestRejectedError extends SwitchbackError {}

/** Qdrant answered something its specification does not describe: refused, never guessed at. */
export class QdrantResponseInvalidError extends SwitchbackError {}

/** The target database could not be reached or a statement failed for a transient reason. Retried. */
export class VectorTargetUnavailableError extends SwitchbackError {}

/** A database cutover verification gate failed; its evidence is in the cutover's report. */
export class DatabaseGateFailedError extends SwitchbackError {}

/** The new connection string is not what the stage requires (seed 002: the transaction pooler, port 6543). */
export class ConnectionCheckFailedError extends SwitchbackError {}

/** A stored migration checkpoint does not parse: it is never guessed at (the migration stops). */
export class CheckpointInvalidError extends SwitchbackError {}

// The change journal and last known good.

/** A stored journal entry does not parse: it is never guessed at. */
export class JournalEntryInvalidError extends SwitchbackError {}

/** Nothing is known good for a target (no state baked without an alarm): the rollback holds, never guesses. */
export class NoKnownGoodError extends SwitchbackError {}

/** The rollback alarms' history (CloudWatch) could not be read, or a state update in it does not parse. */
export class AlarmHistoryUnavailableError extends SwitchbackError {}

/** A write to a SecureString parameter: Switchback never writes (nor reads) their values. Nothing was changed. */
export class SecureParameterRefusedError extends SwitchbackError {}

/** Thrown by the local rehearsal's failure injection; never by production code. */
/** A drill refused before it changed anything (not allowed here, kill switch, lock, incident, alarm). */
export class DrillRefusedError extends SwitchbackError {}

/** A drill whose change was not rolled back and verified in time (its own change undone). */
export class DrillFailedError extends SwitchbackError {}

export class InjectedFailureError extends SwitchbackError {}

export const ERROR_CLASSES = {
  DrillRefusedError,
  DrillFailedError,
  InvalidInputError,
  ConfigurationError,
  UnknownFlagError,
  InvalidFlagValueError,
  FlagNotFoundError,
  HealthCheckFailedError,
  SmokeTestFailedError,
  ServiceNotFoundError,
  DeploymentFailedError,
  DeploymentNotStoppableError,
  ChangeRecordNotFoundError,
  ChangeRecordInvalidError,
  FlagDriftError,
  ServiceNotStableError,
  LockHeldError,
  PreflightFailedError,
  CutoverRolledBackError,
  RollbackRefusedError,
  RollbackFailedError,
  BackupNotFoundError,
  BackupNotVerifiedError,
  BackupChecksumMismatchError,
  BackupVerificationError,
  BackupFailedError,
  RestoreFailedError,
  RestoreVerificationError,
  DataTaskFailedError,
  GateFailedError,
  ApprovalRejectedError,
  FeatureCheckFailedError,
  FeatureNotDisabledError,
  MetricsUnavailableError,
  RolloutLogInvalidError,
  RolloutLogNotFoundError,
  RolloutRefusedError,
  RolloutRolledBackError,
  RolloutInterruptedError,
  AutomationPausedError,
  DryRunFailedError,
  IncidentReportError,
  VectorSourceUnavailableError,
  QdrantAuthenticationError,
  QdrantCollectionNotFoundError,
  QdrantRequestRejectedError,
  QdrantResponseInvalidError,
  VectorTargetUnavailableError,
  DatabaseGateFailedError,
  ConnectionCheckFailedError,
  CheckpointInvalidError,
  JournalEntryInvalidError,
  NoKnownGoodError,
  AlarmHistoryUnavailableError,
  SecureParameterRefusedError,
  InjectedFailureError,
} as const;

/** Error names the ASL files may reference (custom ones plus what Step Functions itself raises). */
export const KNOWN_ERROR_NAMES: ReadonlySet<string> = new Set(Object.keys(ERROR_CLASSES));
