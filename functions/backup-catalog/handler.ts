import { makeHandler } from '../shared/handler';
import { backupCatalog } from './backup-catalog';

export const handler = makeHandler(backupCatalog);
