import { makeHandler } from '../shared/handler';
import { checkHealth } from './check-health';

export const handler = makeHandler(checkHealth);
