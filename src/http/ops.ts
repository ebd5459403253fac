import { Elysia, t } from 'elysia'
import { Health, Readiness } from '../protocol/objects'
import { doc } from './route-docs'

export type OpsDeps = {
  /** Resolves when every dependency answers; rejects otherwise. */
  ready: () => Promise<void>
  draining: () => boolean
  /** Prometheus exposition text and its content type. */
  metrics: { contentType: string; render(): Promise<string> }
}

export const opsRoutes = (d: OpsDeps) =>
  new Elysia()
    .get('/healthz', () => ({ status: 'ok' }), {
      detail: doc({
        tag: 'Operations', summary: 'Liveness', public: true, description: 'Answers while the process runs (the container health check).',
        ok: { 200: { description: 'Alive.', schema: Health, example: { status: 'ok' } } }, errors: [],
      }),
    })
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
    }, {
      detail: doc({
        tag: 'Operations', summary: 'Readiness', public: true,
        description: '200 when the database (and Redis, if set) answer; 503 otherwise, and while the node drains.',
        ok: { 200: { description: 'Ready.', schema: Readiness, example: { status: 'ready' } } }, errors: [503],
      }),
    })
    .get('/metrics', async ({ set }) => {
      set.headers['content-type'] = d.metrics.contentType
      return d.metrics.render()
    }, {
      detail: doc({
        tag: 'Operations', summary: 'Prometheus metrics', public: true,
        ok: { 200: { description: 'The Prometheus text exposition format.', schema: t.String(), media: 'text', example: '# HELP chat_connections open WebSockets\n# TYPE chat_connections gauge\nchat_connections 12\n' } },
        errors: [],
      }),
    })
