import type { AppError } from '../../lib/errors'
import type { Logger } from '../../lib/logger'
import type { MessageRow } from '../message-row'
import type { AttachmentRow } from '../schema'

/** One message to persist. The writer checks what only the database can tell. */
export type WriteRequest = {
  roomId: number
  senderId: number
  type: MessageRow['type']
  /** already trimmed and length-checked */
  content: string
  replyToId?: number | null
  clientMsgId?: string | null
  attachment?: AttachmentRow | null
}

export type WriteResult =
  /** committed now */
  | { status: 'created'; row: MessageRow }
  /** a message with the same client_msg_id from the same sender in the room was committed before */
  | { status: 'duplicate'; row: MessageRow }

export type WriterOptions = {
  /**
   * longest wait before a batch is flushed while another batch is in flight, ms;
   * 0 = next tick. At idle a message commits at once (adaptive flush).
   */
  flushMs: number
  /** messages per transaction at most */
  batchMax: number
  /** messages waiting at most (queued and in flight); past it submit rejects with `unavailable` */
  queueMax: number
  /**
   * how long a batch that meets connection errors is retried before its
   * senders get `unavailable` and the writer turns down, ms (default 1,000)
   */
  retryForMs?: number
  /** while down, how often the database is pinged, ms (default 250) */
  pingEveryMs?: number
  /**
   * batches in flight at once, on disjoint rooms (a room's messages commit in
   * submission order); 1 = one transaction at a time
   */
  lanes?: number
  log: Logger
  /** after each batch: how many messages it carried and how long it took to commit, seconds (for /metrics) */
  onBatch?: (size: number, seconds: number) => void
  /** per message answered with a row: seconds from submit to commit (for /metrics) */
  onCommitted?: (seconds: number) => void
}

export type WriterStats = {
  batches: number
  messages: number
  /** failed statements (any cause) */
  errors: number
  /** batch attempts repeated after a connection error */
  retries: number
  /** batches split in two after a data error, to find the rows the database refuses */
  splits: number
  /** messages refused by the database alone (422 validation) */
  refused: number
  queued: number
  /** batches committing now */
  inFlight: number
  /** sum and count of batch commit durations, for averages */
  flushMsTotal: number
  /** sizes of the last batches (ring of 64) */
  lastBatchSizes: number[]
}

/** Batched group commit of messages: see DESIGN.md "How a message travels". */
export interface MessageWriter {
  /** Resolves once the message is committed (or found committed before); rejects with AppError. */
  submit(req: WriteRequest): Promise<WriteResult>
  readonly stats: WriterStats
  /**
   * false while the database is down (a connection error outlived the retry
   * budget): submits answer `unavailable` at once until a ping succeeds.
   */
  readonly healthy: boolean
  /**
   * true while messages wait or commit: background jobs (search indexer,
   * retention sweep, room purge) hold back their next round until it is false.
   */
  readonly busy: boolean
  /** Resolves when everything accepted so far is committed or answered. */
  drain(): Promise<void>
  /** Refuses new messages, then drains. */
  close(): Promise<void>
}

/** A submitted message and its sender's promise. */
export type Pending = { req: WriteRequest; resolve: (r: WriteResult) => void; reject: (e: AppError) => void }

/** What a message of a batch comes to: a result, or an error for its sender alone. */
export type Outcome = WriteResult | AppError
