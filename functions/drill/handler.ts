import { makeHandler } from '../shared/handler';
import { drill } from './drill';

export const handler = makeHandler(drill);
