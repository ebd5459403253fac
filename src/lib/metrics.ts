/** A Prometheus text exposition built from gauges read at scrape time. */
export type Gauge = { name: string; help: string; type: 'gauge' | 'counter'; value: () => number }

export function renderMetrics(gauges: Gauge[], labels: Record<string, string>): string {
  const l = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',')
  const out: string[] = []
  for (const g of gauges) {
    out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} ${g.type}`, `${g.name}{${l}} ${g.value()}`)
  }
  return out.join('\n') + '\n'
}
