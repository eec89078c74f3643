/** Config rollback: the watched parameters back to their last known good values (procedures/lkg-rollback.ts). */
import lkgRollback from './lkg-rollback';

export default lkgRollback('config');
