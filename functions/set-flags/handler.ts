import { makeHandler } from '../shared/handler';
import { setFlags } from './set-flags';

export const handler = makeHandler(setFlags);
