import { makeHandler } from '../shared/handler';
import { rollbackPlan } from './rollback-plan';

export const handler = makeHandler(rollbackPlan);
