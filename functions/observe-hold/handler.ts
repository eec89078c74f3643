import { makeHandler } from '../shared/handler';
import { observeHold } from './observe-hold';

export const handler = makeHandler(observeHold);
