import { makeHandler } from '../shared/handler';
import { restartService } from './restart-service';

export const handler = makeHandler(restartService);
