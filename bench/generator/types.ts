/** Messages between the coordinator and its worker processes (JSON over Bun IPC). */
import type { HistData } from '../lib/hist.ts'

/**
 * How a worker speaks to a target:
 * - `chat`: API.md's WebSocket frames (our server and the bare Bun baseline);
 * - `sio`: Socket.IO v5 over Engine.IO v4 on a plain WebSocket (the Node baseline),
 *   spoken by hand so that the client costs the same as for `chat`.
 */
export type Protocol = 'chat' | 'sio'

export type SocketSpec = {
  /** full ws:// URL, always on 127.0.0.0/8 */
  url: string
  /** room id on the target */
  room: number
  /** index of this socket among its room's senders; -1 = listens only */
  sender: number
  /** socket.io: the CONNECT packet's auth payload */
  auth?: Record<string, string | number>
  /** a deliberately bad token: the target must refuse it */
  bad?: boolean
}

export type WorkerInit = {
  kind: 'init'
  workerId: number
  protocol: Protocol
  sockets: SocketSpec[]
  /** new sockets per second started by this worker */
  connectRate: number
  /** handshakes in flight at most */
  connectConcurrency: number
  /** a socket not ready after this is counted as failed */
  connectTimeoutMs: number
  /** the worker exits on its own after this, whatever happens */
  maxLifetimeMs: number
  /** loopback addresses to connect from, socket i from [i % length]; empty: the kernel's choice */
  sourceAddresses: string[]
}

export type RoundSpec = {
  kind: 'round'
  round: number
  /** wall-clock ms (performance.timeOrigin based) when sending starts */
  t0: number
  warmupMs: number
  durationMs: number
  /** messages per second per sender (open loop); ignored when inflight > 0 */
  rate: number
  /** > 0: closed loop, each sender keeps this many messages awaiting their ack */
  inflight: number
  /** content length in bytes (ASCII) */
  payload: number
}

export type CoordinatorMessage =
  | WorkerInit | { kind: 'connect' } | RoundSpec | { kind: 'report'; round: number } | { kind: 'counts' } | { kind: 'close' }

/** Frames received since the worker started, by type, and its sockets open now. */
export type CountsReport = { kind: 'counts'; workerId: number; frames: Record<string, number>; open: number }

export type ConnectReport = {
  kind: 'connected'
  workerId: number
  connected: number
  failed: number
  /** failure reason → count */
  errors: Record<string, number>
  /** sockets with a bad token that were refused, as they must be */
  badRefused: number
  /** sockets with a bad token that got in */
  badAccepted: number
  /** ms from creating the socket to its first frame (ready / CONNECT) */
  connectHist: HistData
  /** [room id, sockets ready] */
  rooms: [number, number][]
  /** wall ms of the first attempt and of the last ready */
  startedAt: number
  endedAt: number
}

export type RoundStatus = {
  kind: 'status'
  workerId: number
  round: number
  sent: number
  pendingAcks: number
  deliveries: number
  /** wall ms of the last delivery, 0 if none */
  lastDeliveryAt: number
}

export type RoundReport = {
  kind: 'round'
  workerId: number
  round: number
  sent: number
  acked: number
  /** error code → count (sends answered with an error) */
  sendErrors: Record<string, number>
  /** sends without an answer when the report was asked */
  unacked: number
  /** send → ack, ms, messages sent inside the measured window */
  ackHist: HistData
  /** send → delivery, ms, messages sent inside the measured window */
  latHist: HistData
  /** every message.created of this round received */
  deliveries: number
  /** deliveries received inside the measured window */
  windowDeliveries: number
  dups: number
  outOfOrder: number
  /** deliveries of an earlier round that came late */
  stale: number
  /** [room id, acked in this round by this worker's senders] */
  roomAcked: [number, number][]
  /** [room id, sockets open at round start, distinct messages received over those sockets] */
  roomReceived: [number, number, number][]
  /** frames received this round, by type */
  frames: Record<string, number>
  /** payload bytes of the message.created frames read by the byte scan (our frame shape) */
  createdBytes: number
  /** per second from t0 */
  timeline: { deliveries: number[]; sent: number[]; lat: HistData[] }
  /** how far the send schedule fell behind at worst, ms */
  maxSendLagMs: number
  /** sockets closed by the other side during the round: [code, count] */
  closed: [number, number][]
}

export type WorkerMessage =
  | { kind: 'hello'; workerId: number }
  | { kind: 'progress'; workerId: number; connected: number; failed: number }
  | ConnectReport
  | RoundStatus
  | RoundReport
  | CountsReport
  | { kind: 'closed'; workerId: number }
  | { kind: 'fatal'; workerId: number; error: string }
