import { makeHandler } from '../shared/handler';
import { planResponse } from './plan-response';

export const handler = makeHandler(planResponse);
