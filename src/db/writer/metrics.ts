import type { Metrics } from '../../lib/metrics'
import type { MessageWriter, WriterOptions } from './types'

/** Batch sizes, messages per transaction. */
const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]

/**
 * The writer's figures on /metrics. `hooks` go into the writer's options
 * (histograms fed as batches commit); `watch` adds the totals it keeps.
 */
export function writerMetrics(m: Metrics) {
  const sendToCommit = m.histogram('chat_writer_send_to_commit_seconds', 'submit → commit of a message, seconds')
  const batchSize = m.histogram('chat_writer_batch_size', 'messages per writer transaction', BATCH_SIZE_BUCKETS)
  const hooks: Pick<WriterOptions, 'onBatch' | 'onCommitted'> = {
    onBatch: (size) => batchSize(size),
    onCommitted: sendToCommit,
  }
  return {
    hooks,
    watch(writer: MessageWriter): void {
      const s = () => writer.stats
      m.counter('chat_messages_in_total', 'messages committed by this node', () => s().messages)
      m.counter('chat_writer_batches_total', 'writer transactions', () => s().batches)
      m.gauge('chat_writer_queue', 'messages waiting for the writer', () => s().queued)
      m.gauge('chat_writer_batch_size_avg', 'mean size of the last 64 batches', () => {
        const sizes = s().lastBatchSizes
        return sizes.length ? sizes.reduce((a, b) => a + b, 0) / sizes.length : 0
      })
      m.gauge('chat_writer_flush_ms_avg', 'mean batch commit time, ms', () => (s().batches ? s().flushMsTotal / s().batches : 0))
      m.counter('chat_writer_errors_total', 'failed batch attempts', () => s().errors)
      m.counter('chat_writer_refused_total', 'messages the database refused alone (422)', () => s().refused)
      m.gauge('chat_writer_up', '1 while the writer accepts messages, 0 while the database is down', () => (writer.healthy ? 1 : 0))
    },
  }
}
