import { makeHandler } from '../shared/handler';
import { databaseReport } from './database-report';

export const handler = makeHandler(databaseReport);
