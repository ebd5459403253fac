import { setDefaultTimeout } from 'bun:test'
import { createMemoryPresence } from './presence.memory'
import { presenceSuite, type PresenceFactory } from './presence.suite'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

/** In-process implementations; Redis runs in presence.integration.test.ts. */
const factories: PresenceFactory[] = [
  { name: 'memory', shared: false, nodes: async (n) => { const p = createMemoryPresence(); return Array(n).fill(p) } },
]
for (const f of factories) presenceSuite(f)
