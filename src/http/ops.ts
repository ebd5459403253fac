import { Elysia } from 'elysia'

export type OpsDeps = {
  /** Resolves when every dependency answers; rejects otherwise. */
  ready: () => Promise<void>
  draining: () => boolean
  /** Prometheus exposition text and its content type. */
  metrics: { contentType: string; render(): Promise<string> }
}

export const opsRoutes = (d: OpsDeps) =>
  new Elysia()
    .get('/healthz', () => ({ status: 'ok' }))
    .get('/readyz', async ({ set }) => {
      if (d.draining()) {
        set.status = 503
        return { detail: 'The server is draining.', code: 'unavailable' }
      }
      try {
        await d.ready()
        return { status: 'ready' }
      } catch (err) {
        set.status = 503
        return { detail: `A dependency is down: ${String(err instanceof Error ? err.message : err)}`, code: 'unavailable' }
      }
    })
    .get('/metrics', async ({ set }) => {
      set.headers['content-type'] = d.metrics.contentType
      return d.metrics.render()
    })
