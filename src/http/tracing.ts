import { Elysia } from 'elysia'

/**
 * Optional OpenTelemetry tracing of HTTP requests (@elysiajs/opentelemetry):
 * a span per request with its route, status and the handler's lifecycle,
 * exported over OTLP/HTTP (JSON) to `${endpoint}/v1/traces` in batches.
 *
 * Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: the SDK is not even loaded,
 * so a node without a collector pays nothing. Other OTEL_* variables
 * (OTEL_BSP_SCHEDULE_DELAY, OTEL_RESOURCE_ATTRIBUTES …) work as the SDK
 * documents them.
 */
export async function tracingPlugin(endpoint: string, serviceName: string): Promise<Elysia> {
  if (!endpoint) return new Elysia({ name: 'tracing-off' })
  const [{ opentelemetry }, { OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
    import('@elysiajs/opentelemetry'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/sdk-trace-base'),
  ])
  const exporter = new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` })
  // the plugin's type carries no routes or decorators, so it is an Elysia like the off branch
  return opentelemetry({
    serviceName,
    spanProcessors: [new BatchSpanProcessor(exporter)],
    // a span per request, not per WebSocket frame; health probes would only add noise
    checkIfShouldTrace: (req) => !/\/(healthz|readyz|metrics)$/.test(new URL(req.url).pathname),
  }) as unknown as Elysia
}
