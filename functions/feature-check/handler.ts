import { makeHandler } from '../shared/handler';
import { featureCheck } from './feature-check';

export const handler = makeHandler(featureCheck);
