import { makeHandler } from '../shared/handler';
import { disableFeature } from './disable-feature';

export const handler = makeHandler(disableFeature);
