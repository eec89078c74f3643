import { makeHandler } from '../shared/handler';
import { evaluateGate } from './evaluate-gate';

export const handler = makeHandler(evaluateGate);
