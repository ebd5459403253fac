import { setDefaultTimeout } from 'bun:test'

// suites start servers and databases in their hooks; on a busy 2-core box that can take seconds
setDefaultTimeout(30_000)
