import { makeHandler } from '../shared/handler';
import { routeAlarm } from './route-alarm';

export const handler = makeHandler(routeAlarm);
