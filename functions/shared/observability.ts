import { Logger } from '@aws-lambda-powertools/logger';
import type { Log } from './ports';

/** One logger for every Switchback function: fixed service name, environment as a persistent key. */
export function createLogger(step: string): Logger {
  return new Logger({ serviceName: 'switchback', persistentKeys: { step } });
}

/** Adapts a Powertools Logger to the steps' Log port. */
export function asLog(logger: Logger): Log {
  return {
    info: (message, extra) => logger.info(message, extra ?? {}),
    warn: (message, extra) => logger.warn(message, extra ?? {}),
    error: (message, extra) => logger.error(message, extra ?? {}),
  };
}
