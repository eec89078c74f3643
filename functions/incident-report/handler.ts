import { makeHandler } from '../shared/handler';
import { incidentReport } from './incident-report';

export const handler = makeHandler(incidentReport);
