import { makeHandler } from '../shared/handler';
import { databaseInput } from './database-input';

export const handler = makeHandler(databaseInput);
