/**
 * Domain errors with a stable machine `code`. Services throw these; the HTTP
 * layer maps them to `{detail, code}` with `status`, the gateway to `error`
 * frames. Nothing else decides a status code.
 */
export const ErrorStatus = {
  bad_request: 400,
  unauthorized: 401,
  not_member: 403,
  forbidden: 403,
  not_found: 404,
  email_taken: 409,
  conflict: 409,
  too_large: 413,
  headers_too_large: 431,
  validation: 422,
  room_full: 422,
  message_too_long: 422,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
} as const

export type ErrorCode = keyof typeof ErrorStatus

export class AppError extends Error {
  readonly code: ErrorCode
  readonly status: number
  /** Seconds the client should wait (429). */
  readonly retryAfter?: number

  constructor(code: ErrorCode, detail: string, retryAfter?: number) {
    super(detail)
    this.code = code
    this.status = ErrorStatus[code]
    this.retryAfter = retryAfter
  }

  toBody(): ErrorBody {
    return { detail: this.message, code: this.code }
  }
}

export type ErrorBody = { detail: string; code: string }

export const unauthorized = (detail = 'Authentication required.') => new AppError('unauthorized', detail)
export const notMember = (detail = 'You are not a member of this room.') => new AppError('not_member', detail)
export const forbidden = (detail: string) => new AppError('forbidden', detail)
export const conflict = (detail: string) => new AppError('conflict', detail)
export const notFound = (what: string) => new AppError('not_found', `${what} not found.`)
export const validation = (detail: string) => new AppError('validation', detail)
export const unavailable = (detail: string) => new AppError('unavailable', detail)
