import { makeHandler } from '../shared/handler';
import { validateDataInput } from './validate-data-input';

export const handler = makeHandler(validateDataInput);
