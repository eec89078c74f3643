import { makeHandler } from '../shared/handler';
import { validateInput } from './validate-input';

export const handler = makeHandler(validateInput);
