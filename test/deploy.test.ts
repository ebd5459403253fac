import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/**
 * The deployment files, checked offline: Kubernetes manifests against the
 * API's OpenAPI schemas (kubernetes-models), compose.yaml with the compose
 * tool when the machine has one (CI installs Debian's docker-compose).
 */
const ROOT = join(import.meta.dir, '..')
const K8S = join(ROOT, 'deploy/k8s')

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: unknown }
type Model = new (m: Manifest) => { validate(): void }

function manifests(): { file: string; doc: Manifest }[] {
  return readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((file) => {
      const parsed = Bun.YAML.parse(readFileSync(join(K8S, file), 'utf8')) as Manifest | Manifest[]
      return (Array.isArray(parsed) ? parsed : [parsed]).map((doc) => ({ file, doc }))
    })
}

async function modelOf(m: Manifest): Promise<Model> {
  const [group, version] = m.apiVersion.includes('/') ? m.apiVersion.split('/') : ['', m.apiVersion]
  const mod = (await import(`kubernetes-models/${group ? `${group}/` : ''}${version}/${m.kind}`)) as Record<string, Model>
  const model = mod[m.kind]
  if (!model) throw new Error(`no model for ${m.apiVersion} ${m.kind}`)
  return model
}

describe('deploy/k8s', () => {
  const all = manifests()

  test('has the parts a cluster needs', () => {
    const kinds = all.map((m) => m.doc.kind).sort()
    expect(kinds).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Job', 'PodDisruptionBudget', 'Service'])
  })

  for (const { file, doc } of all) {
    test(`${file}: ${doc.kind} ${doc.metadata.name} validates against its schema`, async () => {
      const Model = await modelOf(doc)
      expect(() => new Model(doc).validate()).not.toThrow()
    })
  }

  test('a broken manifest is refused (the validator can fail)', async () => {
    const deployment = all.find((m) => m.doc.kind === 'Deployment')!.doc
    const broken = structuredClone(deployment) as Manifest & { spec: { replicas: unknown } }
    broken.spec.replicas = 'three'
    const Model = await modelOf(broken)
    expect(() => new Model(broken).validate()).toThrow()
  })

  test('the drain fits the termination grace: preStop + SHUTDOWN_GRACE_MS < terminationGracePeriodSeconds', () => {
    type Pod = { terminationGracePeriodSeconds: number; containers: { lifecycle: { preStop: { sleep: { seconds: number } } } }[] }
    const d = all.find((m) => m.doc.kind === 'Deployment')!.doc as Manifest & { spec: { template: { spec: Pod } } }
    const cm = all.find((m) => m.doc.kind === 'ConfigMap')!.doc as Manifest & { data: Record<string, string> }
    const pod = d.spec.template.spec
    const preStop = pod.containers[0]!.lifecycle.preStop.sleep.seconds
    expect(preStop + Number(cm.data.SHUTDOWN_GRACE_MS) / 1000).toBeLessThan(pod.terminationGracePeriodSeconds)
    expect(cm.data.MIGRATE).toBe('0')
  })
})

const compose = Bun.which('docker-compose')
describe.if(!!compose)('compose.yaml', () => {
  test('docker-compose config accepts it', () => {
    const r = Bun.spawnSync([compose!, '-f', join(ROOT, 'compose.yaml'), 'config', '-q'], {
      env: { ...process.env, JWT_SECRET: 'validate-only' },
      stderr: 'pipe',
    })
    expect(r.stderr.toString()).toBe('')
    expect(r.exitCode).toBe(0)
  })
})

const haproxy = Bun.which('haproxy')
describe.if(!!haproxy)('deploy/haproxy.cfg', () => {
  const check = (addrs: string[]) => Bun.spawnSync([haproxy!, '-c', '-f', join(ROOT, 'deploy/haproxy.cfg')], {
    env: { ...process.env, LB_BIND: '127.0.0.1:1', CHAT1_ADDR: addrs[0], CHAT2_ADDR: addrs[1], CHAT3_ADDR: addrs[2] },
    stderr: 'pipe',
  })

  test('starts with node names DNS cannot resolve yet (compose: the nodes come up after the balancer)', () => {
    const r = check(['chat1:3000', 'chat2:3000', 'chat3:3000'])
    expect(r.exitCode).toBe(0)
    // such a server starts disabled (init-addr none) and the resolvers section picks it up later
    expect(r.stderr.toString()).toContain("could not resolve address 'chat1', disabling server")
  })

  test('has runtime DNS, an explicit maxconn, and health checks on /readyz', () => {
    const cfg = readFileSync(join(ROOT, 'deploy/haproxy.cfg'), 'utf8')
    expect(cfg).toMatch(/^resolvers dns$/m)
    expect(cfg).toMatch(/^\s+parse-resolv-conf$/m)
    expect(cfg).toMatch(/resolvers dns init-addr last,libc,none/)
    expect(cfg).toMatch(/^\s+maxconn "\$\{LB_MAXCONN-\d+\}"$/m)
    expect(cfg).toMatch(/uri \/readyz/)
  })

  test('a broken config is refused (the check can fail)', () => {
    const r = check(['chat1:notaport', 'chat2:3000', 'chat3:3000'])
    expect(r.exitCode).not.toBe(0)
  })
})

describe('drizzle', () => {
  test('schema.ts and the migrations in drizzle/ agree: drizzle-kit generate finds nothing to add', () => {
    const out = mkdtempSync(join(tmpdir(), 'drizzle-check-'))
    try {
      cpSync(join(ROOT, 'drizzle'), out, { recursive: true })
      const r = Bun.spawnSync(['bun', 'x', 'drizzle-kit', 'generate', '--dialect', 'postgresql', '--schema', './src/db/schema.ts', '--out', relative(ROOT, out)], {
        cwd: ROOT, stdout: 'pipe', stderr: 'pipe',
      })
      expect(r.exitCode).toBe(0)
      expect(readdirSync(out).filter((f) => f.endsWith('.sql')).sort()).toEqual(readdirSync(join(ROOT, 'drizzle')).filter((f) => f.endsWith('.sql')).sort())
      expect(r.stdout.toString() + r.stderr.toString()).toContain('No schema changes')
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  })
})
