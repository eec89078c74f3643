import type { AlarmCatalog } from '../functions/shared/alarm-catalog';
import { alarmCatalog, resolveAlarms } from '../lib/config/alarm-readiness';
import type { IncidentsConfig } from '../lib/config/alarm-schema';
import { parseStage } from '../lib/config/stage';
import { LOCAL_ALARM_ORIGIN } from './alarm-event';
import { procedureNames } from './definitions';

/**
 * The alarm catalog a deployed stage would give the router, built from the same seed alarms and
 * decision matrix (and the same readiness check) for a local environment.
 */
export function localAlarmCatalog(
  environment: string,
  incidents: Partial<IncidentsConfig> = {},
  /** Stage `alarms` overrides (e.g. a seed alarm's issue type, so the matrix decides a data rollback). */
  alarms: Record<string, unknown> = {},
): AlarmCatalog {
  const stage = parseStage({
    name: environment,
    services: { cluster: `local-${environment}`, api: 'memory-api', sidecar: 'memory-sidecar' },
    endpoints: { apiBaseUrl: 'http://127.0.0.1:1', sidecarBaseUrl: 'http://127.0.0.1:2' },
    incidents,
    alarms,
  });
  return {
    ...alarmCatalog(stage, resolveAlarms(stage, { deployedProcedures: procedureNames() })),
    origin: LOCAL_ALARM_ORIGIN,
  };
}
