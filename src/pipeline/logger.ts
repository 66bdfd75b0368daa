export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  child(name: string): Logger;
}

/** Agent diagnostics go to stderr so stdout stays free for the file exporter's `-`. */
export function createLogger(level: LogLevel = 'info', name = '', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (at: LogLevel, msg: string) => {
    if (ORDER[at] < ORDER[level]) return;
    write(`${new Date().toISOString()} ${at.padEnd(5)} ${name ? `[${name}] ` : ''}${msg}\n`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    child: (child) => createLogger(level, name ? `${name}/${child}` : child, write),
  };
}

/** Warns once per key until `reset(key)`: an unreachable socket is reported once, not every retry. */
export class WarnOnce {
  private readonly warned = new Set<string>();
  constructor(private readonly logger: Logger) {}
  warn(key: string, msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.logger.warn(msg);
  }
  reset(key: string): void {
    this.warned.delete(key);
  }
}
