import { makeHandler } from '../shared/handler';
import { migrateVectors } from './migrate-vectors';

export const handler = makeHandler(migrateVectors);
