import { makeHandler } from '../shared/handler';
import { journal } from './journal';

export const handler = makeHandler(journal);
