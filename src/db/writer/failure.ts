/**
 * What a failed statement says about the database, for the writer to choose:
 * retry later, split the batch to find a bad row, or sort out duplicates.
 */
export const Failure = {
  /** the database cannot be reached or is going away: retry briefly, then `unavailable` */
  connection: 'connection',
  /** a conflict between transactions (deadlock, serialization): retry like a connection error */
  transient: 'transient',
  /** the database refuses the data of some row: split the batch to find it, the rest commits */
  data: 'data',
  /** a client_msg_id committed before: the slower path looks them up */
  duplicateClientMsgId: 'duplicate_client_msg_id',
  /** anything else (a bug): split like data, so one row cannot sink its neighbours */
  unknown: 'unknown',
} as const
export type Failure = (typeof Failure)[keyof typeof Failure]

/** Network and driver codes (postgres.js, Node/Bun sockets) that mean "no usable connection". */
const connectionCodes = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', 'ConnectionRefused', 'ConnectionClosed',
])

/** SQLSTATEs of a server going away or refusing connections (57P01 admin shutdown, 57P02 crash, 57P03 starting up). */
const connectionStates = new Set(['57P01', '57P02', '57P03', '57P04', '57P05'])

/** Messages without a code that mean the same: PGlite closed, a socket dropped under the driver. */
const connectionMessages = /PGlite is closed|database closed|connection terminated|connection (?:was )?closed|socket (?:hang up|closed)|Connection ended|ECONNREFUSED|ECONNRESET|the database system is (?:shutting down|starting up|in recovery mode)/i

/** Messages of data the database refuses, when the code was lost on the way. */
const dataMessages = /invalid byte sequence|unsupported Unicode escape|invalid input syntax|out of range|value too long|null character not permitted/i

type ErrorLike = { code?: unknown; constraint_name?: unknown; constraint?: unknown; message?: unknown; cause?: unknown }

/** The error and its causes (drizzle wraps the driver's error in DrizzleQueryError). */
function chain(err: unknown): ErrorLike[] {
  const out: ErrorLike[] = []
  let e: unknown = err
  for (let depth = 0; depth < 5 && e && typeof e === 'object'; depth++) {
    out.push(e as ErrorLike)
    e = (e as ErrorLike).cause
  }
  return out
}

/** Sorts an error thrown by a writer statement into what to do about it. */
export function classifyFailure(err: unknown): Failure {
  const errors = chain(err)
  if (errors.length === 0) return Failure.unknown
  for (const e of errors) {
    const code = typeof e.code === 'string' ? e.code : ''
    const message = typeof e.message === 'string' ? e.message : ''
    if (code === '23505' && String(e.constraint_name ?? e.constraint ?? message).includes('messages_client_msg_key')) {
      return Failure.duplicateClientMsgId
    }
    if (connectionCodes.has(code) || connectionStates.has(code)) return Failure.connection
    // class 08: connection exception; 53: insufficient resources (too many connections, disk full, out of memory)
    if (/^(08|53)/.test(code)) return Failure.connection
    if (code === '40001' || code === '40P01' || code === '55P03') return Failure.transient
    // 22: data exception (bad encoding, out of range); 23: integrity constraint; 42: syntax or type the data provoked
    if (/^(22|23|42)/.test(code) && code.length === 5) return Failure.data
    if (connectionMessages.test(message)) return Failure.connection
    if (dataMessages.test(message)) return Failure.data
  }
  return Failure.unknown
}

/** A retry should help: the database was unreachable or two transactions collided. */
export const isRetryable = (f: Failure) => f === Failure.connection || f === Failure.transient

/** Backoff before attempt `attempt` (1-based) after a retryable failure, ms: 25, 50, 100, 200, 200 … */
export const retryDelayMs = (attempt: number) => Math.min(25 * 2 ** (attempt - 1), 200)
