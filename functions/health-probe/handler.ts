import { makeHandler } from '../shared/handler';
import { healthProbe } from './health-probe';

export const handler = makeHandler(healthProbe);
