import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Keys whose values never reach a log line, wherever they appear one or two levels down. Nothing
 * here logs headers or bodies in the first place; this is the net under that rule.
 */
const REDACTED_KEYS = [
  'authorization',
  'cookie',
  'token',
  'secret',
  'password',
  'body',
  'rawBody',
  'raw_body',
  'x-orb-signature',
];
const REDACT_PATHS = REDACTED_KEYS.flatMap((key) => [`["${key}"]`, `*["${key}"]`]);

interface QueryError {
  query: string;
  params: unknown;
  cause?: unknown;
}

function isQueryError(error: object): error is Error & QueryError {
  return error instanceof Error && 'query' in error && 'params' in error;
}

/**
 * Errors as log fields. A failed query (drizzle's `DrizzleQueryError`) carries its parameters in
 * its message: a webhook's raw body, a tenant's settings. The log gets the statement and the
 * driver's own error instead, never the values.
 */
export function serializeError(error: unknown): unknown {
  if (typeof error !== 'object' || error === null) return { message: String(error) };
  if (isQueryError(error)) {
    return {
      type: error.name,
      message: `Failed query: ${error.query}`,
      cause: error.cause === undefined ? undefined : serializeError(error.cause),
    };
  }
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  if (error instanceof Error && error.cause !== undefined) serialized['cause'] = serializeError(error.cause);
  return serialized;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; default: standard output, buffered (flushed on shutdown). */
  destination?: DestinationStream;
}

/** JSON lines, one object per event, with the service's redaction and error serializer. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 });
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'billing-limits-service' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError, error: serializeError },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

let fallback: Logger | undefined;

/** What an app embedded without a logger reports to: warnings and errors, on standard error. */
export function defaultLogger(): Logger {
  fallback ??= createLogger({ level: 'warn', destination: pino.destination({ dest: 2, sync: true }) });
  return fallback;
}
