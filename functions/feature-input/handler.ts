import { makeHandler } from '../shared/handler';
import { featureInput } from './feature-input';

export const handler = makeHandler(featureInput);
