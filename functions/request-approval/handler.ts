import { makeHandler } from '../shared/handler';
import { requestApproval } from './request-approval';

export const handler = makeHandler(requestApproval);
