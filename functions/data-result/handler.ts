import { makeHandler } from '../shared/handler';
import { dataResult } from './data-result';

export const handler = makeHandler(dataResult);
