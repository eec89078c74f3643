import { makeHandler } from '../shared/handler';
import { changeRecord } from './change-record';

export const handler = makeHandler(changeRecord);
