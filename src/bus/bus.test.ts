import { setDefaultTimeout } from 'bun:test'
import { createLocalBus } from './bus.local'
import { busSuite, type BusFactory } from './bus.suite'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

/** In-process implementations; Redis runs in bus.integration.test.ts. */
const factories: BusFactory[] = [
  { name: 'local', multiNode: false, pair: async () => { const b = createLocalBus(); return [b, b] } },
]
for (const f of factories) busSuite(f)
