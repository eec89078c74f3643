import { makeHandler } from '../shared/handler';
import { scaleService } from './scale-service';

export const handler = makeHandler(scaleService);
