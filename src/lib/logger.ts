/** Minimal leveled JSON-line logger; one line per event on stdout/stderr. */
export const LogLevels = { debug: 10, info: 20, warn: 30, error: 40 } as const
export type LogLevel = keyof typeof LogLevels

export type Logger = {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

export function createLogger(level: LogLevel = 'info', base: Record<string, unknown> = {}): Logger {
  const min = LogLevels[level]
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LogLevels[lvl] < min) return
    const line = JSON.stringify({ t: new Date().toISOString(), level: lvl, msg, ...base, ...fields })
    if (LogLevels[lvl] >= LogLevels.warn) console.error(line)
    else console.log(line)
  }
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  }
}

/** Logger that prints nothing (tests). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }
