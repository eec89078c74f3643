import { makeHandler } from '../shared/handler';
import { databaseCheck } from './database-check';

export const handler = makeHandler(databaseCheck);
