import { pino, type Logger as PinoLogger } from 'pino'
import { AppError } from './errors'

/** Leveled JSON-line logging (pino); one line per event on stdout. */
export const LogLevels = { debug: 10, info: 20, warn: 30, error: 40 } as const
export type LogLevel = keyof typeof LogLevels

export type Logger = {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  /** A logger adding `fields` to every line. */
  child(fields: Record<string, unknown>): Logger
}

/** Credentials that travel in URLs (socket tokens, signed file URLs, gateway signatures). */
const SECRET_PARAM = /([?&](?:token|sig|access|refresh)=)[^&\s"]*/gi

/** `text` with every credential query parameter replaced by `***`. */
export function redact(text: string): string {
  return text.replace(SECRET_PARAM, '$1***')
}

/**
 * What may be logged of an error: its kind, its code (SQLSTATE, errno) and
 * its stack frames, never data. A database error's message can quote the
 * values of the statement (drizzle's "Failed query: … params: …", Postgres'
 * "invalid input syntax …: \"…\""), so for those only the code is kept.
 */
export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof AppError) return { error: err.code, detail: err.message }
  if (typeof err !== 'object' || err === null) return { error: typeof err }
  // drizzle wraps the driver's error: the SQLSTATE is on the cause
  const e = err as { name?: unknown; code?: unknown; cause?: unknown; message?: unknown; stack?: unknown; constraint_name?: unknown }
  const inner = (e.cause ?? e) as typeof e
  const code = typeof inner.code === 'string' ? inner.code : typeof e.code === 'string' ? e.code : undefined
  const fromDatabase = /^[0-9A-Z]{5}$/.test(code ?? '') || String(e.name).includes('Query') || typeof inner.constraint_name === 'string'
  const out: Record<string, unknown> = { error: typeof e.name === 'string' ? e.name : 'Error' }
  if (code) out.code = code
  if (typeof inner.constraint_name === 'string') out.constraint = inner.constraint_name
  if (!fromDatabase && typeof e.message === 'string') out.detail = redact(e.message).slice(0, 200)
  if (typeof e.stack === 'string') {
    // frames only: the first line repeats the message
    out.stack = e.stack.split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 12).join('\n')
  }
  return out
}

/** Every field made safe: errors reduced by `errorFields`, strings redacted. */
function safe(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(fields)) {
    if (v instanceof Error || (k === 'error' && typeof v === 'object' && v !== null)) Object.assign(out, errorFields(v))
    else out[k] = typeof v === 'string' ? redact(v) : v
  }
  return out
}

/** Where log lines go: stdout by default; tests pass a collector. */
export type LogDestination = { write(line: string): void }

/**
 * A pino logger behind our small interface: one JSON object per line with
 * pino's standard keys (`level` as a label, `time` in ISO-8601, `msg`), the
 * `base` fields (node), and the event's fields made safe. `child` adds fields
 * to every line (a request id).
 */
export function createLogger(level: LogLevel = 'info', base: Record<string, unknown> = {}, destination?: LogDestination): Logger {
  const root = pino(
    {
      level,
      base,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  )
  return wrap(root)
}

function wrap(p: PinoLogger): Logger {
  const at = (lvl: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (p.isLevelEnabled(lvl)) p[lvl](fields ? safe(fields) : {}, msg)
  }
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => wrap(p.child(safe(fields))),
  }
}

/** Logger that prints nothing (tests). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger }
