import { makeHandler } from '../shared/handler';
import { checkStable } from './check-stable';

export const handler = makeHandler(checkStable);
