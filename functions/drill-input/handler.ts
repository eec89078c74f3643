import { makeHandler } from '../shared/handler';
import { drillInput } from './drill-input';

export const handler = makeHandler(drillInput);
