import { makeHandler } from '../shared/handler';
import { rollbackInput } from './rollback-input';

export const handler = makeHandler(rollbackInput);
