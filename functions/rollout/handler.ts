import { makeHandler } from '../shared/handler';
import { rollout } from './rollout';

export const handler = makeHandler(rollout);
