/**
 * The first state both database procedures share after validation: what every later path of a
 * database cutover or rollback may name (backups taken, the report) before any of it exists.
 */
import { pass } from './asl';

export const initDatabaseState = pass({
  comment: 'What every later path may name: backups taken (none yet), the report (not written yet).',
  parameters: {
    'request.$': '$.request',
    backups: [],
    report: { reportKey: null, markdownKey: '(not written)', signOffKey: null },
  },
  next: 'AcquireLock',
});
