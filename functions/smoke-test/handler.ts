import { makeHandler } from '../shared/handler';
import { smokeTest } from './smoke-test';

export const handler = makeHandler(smokeTest);
