/**
 * `bun scripts/web-size.ts`: the web app's bundle as the server serves it
 * (Bun.build, minified), each asset's size raw and gzipped (Bun.gzipSync, level 6).
 */
import { webBundle } from '../src/http/web'

const { assets } = await webBundle()
let raw = 0
let gz = 0
for (const [name, a] of assets) {
  const z = Bun.gzipSync(a.body).length
  raw += a.body.length
  gz += z
  console.log(`${name.padEnd(32)} ${String(a.body.length).padStart(7)} B   gzip ${String(z).padStart(6)} B`)
}
console.log(`${'total'.padEnd(32)} ${String(raw).padStart(7)} B   gzip ${String(gz).padStart(6)} B`)
