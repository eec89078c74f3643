import { makeHandler } from '../shared/handler';
import { composeNotice } from './compose-notice';

export const handler = makeHandler(composeNotice);
