/**
 * WebSocket close codes the server (or Bun, for it) closes a socket with, and
 * what a client does next. docs/protocol.md "Close codes and what a client
 * does" is the prose version of this table; change both together.
 */
export const CloseCode = {
  /** a normal close: the client asked for it */
  normal: 1000,
  /** the node is shutting down (SIGTERM drain); everything accepted was committed */
  goingAway: 1001,
  /** repeated abuse: bad frames past the allowance */
  policy: 1008,
  /**
   * a frame over MAX_FRAME_BYTES. Bun sends it itself (the gateway's
   * `maxPayloadLength`); the server never calls close with it.
   */
  tooBig: 1009,
  /** unexpected server error (the session could not start) */
  internal: 1011,
  /** the socket could not keep up with its rooms: sent nothing more, closed once its buffer drained */
  tryAgainLater: 1013,
  /** the credentials ended: the access token expired, or its login was logged out or revoked */
  unauthorized: 4001,
} as const

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

/**
 * What a client does after a close:
 * - `now`: reconnect at once (a balancer sends it to another node) and resume;
 * - `backoff`: reconnect with exponential backoff and jitter, resume with `after_seq`;
 * - `refresh-then-reconnect`: refresh the token first (sign in again if refresh answers 401), then reconnect and resume;
 * - `never`: do not reconnect by itself (a normal close, or a client bug to fix).
 */
export type ReconnectPolicy = 'now' | 'backoff' | 'refresh-then-reconnect' | 'never'

/** Every close code with its reconnect policy; `by` tells who closes with it. */
export const ClosePolicy: { readonly [C in CloseCode]: { readonly reconnect: ReconnectPolicy; readonly by: 'server' | 'bun' | 'client' } } = {
  [CloseCode.normal]: { reconnect: 'never', by: 'client' },
  [CloseCode.goingAway]: { reconnect: 'now', by: 'server' },
  [CloseCode.policy]: { reconnect: 'never', by: 'server' },
  [CloseCode.tooBig]: { reconnect: 'never', by: 'bun' },
  [CloseCode.internal]: { reconnect: 'backoff', by: 'server' },
  [CloseCode.tryAgainLater]: { reconnect: 'backoff', by: 'server' },
  [CloseCode.unauthorized]: { reconnect: 'refresh-then-reconnect', by: 'server' },
}

/**
 * The policy for any close code a client sees; codes not in the table (1006
 * for a dropped connection, for one) are treated as transient: `backoff`.
 */
export const reconnectPolicy = (code: number): ReconnectPolicy =>
  Object.hasOwn(ClosePolicy, code) ? ClosePolicy[code as CloseCode].reconnect : 'backoff'
