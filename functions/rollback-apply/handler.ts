import { makeHandler } from '../shared/handler';
import { rollbackApply } from './rollback-apply';

export const handler = makeHandler(rollbackApply);
