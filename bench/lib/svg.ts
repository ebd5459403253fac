/** Small self-contained SVG line charts: the report draws its own figures from the measured data. */

export type Series = { name: string; points: [number, number][] }
export type ChartOptions = {
  title: string
  xLabel: string
  yLabel: string
  series: Series[]
  logX?: boolean
  width?: number
  height?: number
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b']

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo]
  const step0 = (hi - lo) / n
  const mag = 10 ** Math.floor(Math.log10(step0))
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 && out.length < 20; v += step) out.push(v)
  return out
}

function fmt(v: number): string {
  const a = Math.abs(v)
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`
  if (a >= 1 || v === 0) return `${+v.toFixed(1)}`
  return `${+v.toPrecision(2)}`
}

export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 720, H = o.height ?? 360
  const m = { l: 64, r: 16, t: 36, b: 48 }
  const pw = W - m.l - m.r, ph = H - m.t - m.b
  const pts = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0))
  const tx = (x: number) => (o.logX ? Math.log10(x) : x)
  let x0 = Math.min(...pts.map((p) => tx(p[0]))), x1 = Math.max(...pts.map((p) => tx(p[0])))
  let y1 = Math.max(...pts.map((p) => p[1]))
  const y0 = 0
  if (!pts.length) (x0 = 0), (x1 = 1), (y1 = 1)
  if (x1 === x0) x1 = x0 + 1
  if (!(y1 > y0)) y1 = y0 + 1
  y1 *= 1.05
  const sx = (x: number) => m.l + ((tx(x) - x0) / (x1 - x0)) * pw
  const sy = (y: number) => m.t + ph - ((y - y0) / (y1 - y0)) * ph
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`)
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(o.title)}</text>`)
  // axes and grid
  const xt = o.logX
    ? niceTicks(Math.floor(x0), Math.ceil(x1), Math.max(1, Math.ceil(x1) - Math.floor(x0))).filter((v) => Number.isInteger(v)).map((v) => 10 ** v)
    : niceTicks(x0, x1)
  for (const v of xt) {
    if (tx(v) < x0 - 1e-9 || tx(v) > x1 + 1e-9) continue
    const x = sx(v)
    parts.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${m.t + ph}" stroke="#eee"/>`)
    parts.push(`<text x="${x}" y="${m.t + ph + 16}" text-anchor="middle">${fmt(v)}</text>`)
  }
  for (const v of niceTicks(y0, y1)) {
    const y = sy(v)
    parts.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="#eee"/>`)
    parts.push(`<text x="${m.l - 6}" y="${y + 4}" text-anchor="end">${fmt(v)}</text>`)
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`)
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xLabel)}</text>`)
  parts.push(`<text x="14" y="${m.t + ph / 2}" text-anchor="middle" transform="rotate(-90 14 ${m.t + ph / 2})">${esc(o.yLabel)}</text>`)
  o.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]
    const d = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0))
      .map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join('')
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.8"/>`)
    parts.push(`<rect x="${m.l + 10}" y="${m.t + 8 + i * 16}" width="10" height="10" fill="${c}"/>`)
    parts.push(`<text x="${m.l + 26}" y="${m.t + 17 + i * 16}">${esc(s.name)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}
