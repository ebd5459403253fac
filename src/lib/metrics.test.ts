import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { createMetrics } from './metrics'

setDefaultTimeout(60_000)

describe('metrics', () => {
  test('two servers in one process keep their own series, each with its node label and the process figures', async () => {
    const a = createMetrics('a')
    const b = createMetrics('b')
    a.gauge('chat_test_value', 'a value', () => 1)
    b.gauge('chat_test_value', 'a value', () => 2)
    a.counter('chat_test_total', 'a total', () => 5)
    const observe = b.histogram('chat_test_seconds', 'a latency')
    observe(0.003)
    const [ta, tb] = await Promise.all([a.render(), b.render()])
    expect(ta).toMatch(/^chat_test_value\{node="a"\} 1$/m)
    expect(tb).toMatch(/^chat_test_value\{node="b"\} 2$/m)
    expect(ta).toMatch(/^chat_test_total\{node="a"\} 5$/m)
    expect(ta).not.toContain('chat_test_seconds')
    expect(tb).toMatch(/^chat_test_seconds_bucket\{le="0.005",node="b"\} 1$/m)
    expect(tb).toMatch(/^chat_test_seconds_bucket\{le="0.0025",node="b"\} 0$/m)
    for (const t of [ta, tb]) {
      expect(t).toMatch(/^process_cpu_seconds_total\{node="[ab]"\} /m)
      // the process figures appear once per scrape, not once per server
      expect(t.match(/^# TYPE process_cpu_seconds_total /gm)?.length).toBe(1)
    }
    expect(a.contentType).toBe('text/plain; version=0.0.4; charset=utf-8')
  })

  test('a counter shows the total its component keeps, scrape after scrape', async () => {
    const m = createMetrics('n')
    let total = 3
    m.counter('chat_test_total', 'a total', () => total)
    expect(await m.render()).toMatch(/^chat_test_total\{node="n"\} 3$/m)
    total = 10
    expect(await m.render()).toMatch(/^chat_test_total\{node="n"\} 10$/m)
  })
})
