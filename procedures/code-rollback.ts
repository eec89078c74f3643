/** Code rollback: the services back to their last known good task definitions (procedures/lkg-rollback.ts). */
import lkgRollback from './lkg-rollback';

export default lkgRollback('code');
