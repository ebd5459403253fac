import { describe, expect, test } from 'bun:test'
import { parseClusterNodes, redisTarget } from './redis'

describe('REDIS_CLUSTER_NODES', () => {
  test('host:port entries, IPv6 in brackets, spaces and empty entries ignored', () => {
    expect(parseClusterNodes('redis-0:6379, 10.0.0.2:7000,[::1]:7001,')).toEqual([
      { host: 'redis-0', port: 6379 }, { host: '10.0.0.2', port: 7000 }, { host: '::1', port: 7001 },
    ])
  })
  for (const bad of ['redis://a:7000', 'a', 'a:0', 'a:65536', 'a:70x', '::1:7000', 'a b:1']) {
    test(`${JSON.stringify(bad)} is refused`, () => {
      expect(() => parseClusterNodes(bad)).toThrow(/host:port/)
    })
  }
  test('the cluster takes the place of REDIS_URL; neither = one node', () => {
    expect(redisTarget('redis://x:1', 'a:1')).toEqual({ kind: 'cluster', nodes: [{ host: 'a', port: 1 }] })
    expect(redisTarget('redis://x:1', '')).toEqual({ kind: 'single', url: 'redis://x:1' })
    expect(redisTarget(undefined, '')).toBeNull()
  })
})
