/** Structured log lines; context values are data, never secrets (callers redact before logging). */
export interface Logger {
  info(message: string, context?: Record<string, unknown>): void;
  warn(message: string, context?: Record<string, unknown>): void;
  error(message: string, context?: Record<string, unknown>): void;
}

function describe(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

/** One JSON object per line on stderr: what CloudWatch Logs and `jq` both read well. */
export function jsonLogger(write: (line: string) => void = (line) => process.stderr.write(line + '\n')): Logger {
  const emit = (level: string) => (message: string, context: Record<string, unknown> = {}) => {
    const fields = Object.fromEntries(Object.entries(context).map(([k, v]) => [k, describe(v)]));
    write(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }));
  };
  return { info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
