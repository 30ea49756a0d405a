/** Powertools logger and metrics of the handlers and the ingest service. */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Logger } from '../core/log';

export const METRICS_NAMESPACE = 'Berth';

export function createObservability(serviceName: string): { logger: PowertoolsLogger; metrics: Metrics } {
  return {
    logger: new PowertoolsLogger({ serviceName }),
    metrics: new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE, serviceName }),
  };
}

/** The core's Logger port on top of Powertools (context values are data, never secrets). */
export function coreLogger(logger: PowertoolsLogger): Logger {
  const fields = (context: Record<string, unknown> = {}) => context;
  return {
    info: (message, context) => logger.info(message, fields(context)),
    warn: (message, context) => logger.warn(message, fields(context)),
    error: (message, context) => logger.error(message, fields(context)),
  };
}

