/**
 * The client package as a caller gets it: `npm pack --workspace packages/client`, the tarball
 * installed into an empty project, then used with plain `node` (ESM and CommonJS) against a running
 * service, and type-checked by `tsc --strict` — a correct program compiles, wrong ones do not.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { useHarness } from '../support/harness.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};

/** Runs a command to its end; rejects with its output when it fails. */
function run(
  file: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: { ...process.env, ...options.env }, timeout: 120_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { stdout, stderr }));
        else resolve({ stdout, stderr });
      },
    );
  });
}

/** What the server packages are: none of them may reach a caller's node_modules. */
const SERVER_PACKAGES =
  /^(hono|@hono\/.*|drizzle-orm|@electric-sql\/pglite|postgres|pino|@opentelemetry\/.*|jose|zod|trpc-to-openapi|lru-cache)$/;

let workDir: string;
let project: string;
let tarball: string;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'billing-client-package-'));
  project = join(workDir, 'project');
  // `npm pack` runs the package's prepack (its build) first, as a publish would.
  await run('npm', ['pack', '--workspace', 'packages/client', '--pack-destination', workDir, '--silent'], {
    cwd: root,
  });
  const [name] = readdirSync(workDir).filter((file) => file.endsWith('.tgz'));
  if (!name) throw new Error(`npm pack wrote no tarball into ${workDir}`);
  tarball = join(workDir, name);
  await run('mkdir', ['-p', project], { cwd: workDir });
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'a-billing-caller', private: true, type: 'module' }, null, 2)}\n`,
  );
  // TypeScript pinned as the repository pins it (tRPC declares it a peer, so npm would install
  // one anyway); everything else comes from the tarball's own dependencies.
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      tarball,
      `typescript@${rootManifest.devDependencies['typescript']}`,
    ],
    { cwd: project },
  );
}, 180_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the built package, its README and license, and nothing of the source tree', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball], { cwd: workDir });
    const files = stdout.trim().split('\n').sort();
    expect(files).toContain('package/README.md');
    expect(files).toContain('package/LICENSE');
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/index.d.ts');
    expect(files).toContain('package/dist/app-router.d.ts');
    expect(files).toContain('package/dist/cjs/index.js');
    expect(
      files.filter((file) => !/^package\/(dist\/.+|README\.md|LICENSE|package\.json)$/.test(file)),
    ).toEqual([]);
    const installed = join(project, 'node_modules', 'billing-limits-client');
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toBe(
      readFileSync(join(root, 'LICENSE'), 'utf8'),
    );
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(manifest).toMatchObject({ version: rootManifest.version, license: 'MIT' });
    expect(manifest['private']).toBeUndefined();
  });

  it('installs @trpc/client (and the tRPC types it needs), and nothing of the server', async () => {
    // What is on disk, not what npm ls reports (it also lists the optional peers left out).
    const installedIn = (modules: string): string[] =>
      readdirSync(modules, { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
        .flatMap((entry) =>
          entry.name.startsWith('@')
            ? readdirSync(join(modules, entry.name)).map((scoped) => `${entry.name}/${scoped}`)
            : [entry.name],
        );
    const names = new Set(installedIn(join(project, 'node_modules')));
    for (const name of [...names]) {
      const nested = join(project, 'node_modules', name, 'node_modules');
      if (existsSync(nested)) for (const inner of installedIn(nested)) names.add(inner);
    }
    expect([...names].sort()).toEqual([
      '@trpc/client',
      '@trpc/server',
      'billing-limits-client',
      'eventsource',
      'eventsource-parser',
      'typescript',
    ]);
    expect([...names].filter((name) => SERVER_PACKAGES.test(name))).toEqual([]);
  });

  it('types the router with tRPC alone: the server’s context and metadata are erased', () => {
    const routerType = readFileSync(
      join(project, 'node_modules', 'billing-limits-client', 'dist', 'app-router.d.ts'),
      'utf8',
    );
    const named = new Set([...routerType.matchAll(/(?:import\(|from )["']([^"']+)["']/g)].map((m) => m[1]));
    expect([...named]).toEqual(['@trpc/server']);
    expect(routerType).toMatch(/ctx: object;\s+meta: object;/);
  });
});

describe('used with plain node against a running service', () => {
  const h = useHarness({ store: 'pglite' });
  let server: DrainableServer;
  beforeAll(async () => {
    server = await listen(h.app.fetch, { port: 0, hostname: '127.0.0.1' });
  });
  afterAll(async () => {
    await server?.close(1_000);
  });

  it('imports as ESM: reads limits, calls a procedure, reserves with a generated key, renews a lease, reads failures', async () => {
    const tenantId = await h.tenant('growth');
    writeFileSync(
      join(project, 'caller.mjs'),
      `import { conflictCodeOf, createBillingClient, isBillingClientError } from 'billing-limits-client';
const { BILLING_URL: url, TOKEN: token, TENANT: tenantId } = process.env;
const billing = createBillingClient({ url, token, timeoutMs: 5000 });
const fromService = await billing.limits({ tenantId });
const procedure = await billing.billing.limits.query({ tenantId });
const reservation = await billing.reserve({ tenantId, resource: 'deployments' });
let notFound;
try { await billing.billing.limits.query({ tenantId: 'nobody-' + tenantId }); } catch (error) {
  notFound = isBillingClientError(error) && error.data?.code;
}
const lease = await billing.reserve({ tenantId, resource: 'self_hosted_workers', lease_seconds: 60 });
const renewed = await billing.renew({ tenantId, reservationId: lease.reservation_id, lease_seconds: 120 });
let notLeased;
try { await billing.renew({ tenantId, reservationId: reservation.reservation_id }); } catch (error) {
  notLeased = conflictCodeOf(error);
}
console.log(JSON.stringify({
  fromService: { source: fromService.source, limits: fromService.limits, fetchedAt: typeof fromService.fetchedAt?.toISOString() },
  procedure, reserved: { used: reservation.used, resource: reservation.resource }, notFound,
  renewed: renewed.reservation_id === lease.reservation_id && Date.parse(renewed.expires_at) > Date.parse(lease.expires_at),
  notLeased,
}));
`,
    );
    const { stdout } = await run(process.execPath, ['caller.mjs'], {
      cwd: project,
      env: { BILLING_URL: server.origin, TOKEN: await h.workerToken(), TENANT: tenantId },
    });
    const limits = await h.limits(tenantId);
    expect(JSON.parse(stdout)).toEqual({
      fromService: { source: 'service', limits, fetchedAt: 'string' },
      procedure: { tenant_id: tenantId, limits },
      reserved: { used: 1, resource: 'deployments' },
      notFound: 'NOT_FOUND',
      renewed: true,
      notLeased: 'not_leased',
    });
  });

  it('answers from memory in a plain node process whose service went away', async () => {
    const tenantId = await h.tenant('free');
    writeFileSync(
      join(project, 'outage.mjs'),
      `import { createBillingClient } from 'billing-limits-client';
const { BILLING_URL: url, TOKEN: token, TENANT: tenantId } = process.env;
let reachable = true;
const fetchThrough = (input, init) => reachable ? fetch(input, init) : Promise.reject(new TypeError('fetch failed'));
const billing = createBillingClient({ url, token, fetch: fetchThrough });
const first = await billing.limits({ tenantId });
reachable = false;
const second = await billing.limits({ tenantId });
console.log(JSON.stringify({ first: first.source, second: second.source, same: JSON.stringify(first.limits) === JSON.stringify(second.limits), why: second.unavailable?.message }));
`,
    );
    const { stdout } = await run(process.execPath, ['outage.mjs'], {
      cwd: project,
      env: { BILLING_URL: server.origin, TOKEN: await h.workerToken(), TENANT: tenantId },
    });
    expect(JSON.parse(stdout)).toEqual({
      first: 'service',
      second: 'last-known',
      same: true,
      why: 'fetch failed',
    });
  });

  it('watches a change made on the server and mirrors limits in plain node, then exits by itself once closed', async () => {
    const tenantId = await h.tenant('growth');
    writeFileSync(
      join(project, 'watch.mjs'),
      `import { createBillingClient } from 'billing-limits-client';
const { BILLING_URL: url, TOKEN: token, TENANT: tenantId } = process.env;
const billing = createBillingClient({ url, token: async () => token });
const mirror = billing.createLimitsMirror();
for await (const message of billing.watchLimits({ tenantId })) {
  if (message.type === 'ready') console.log(JSON.stringify({ ready: message.data.resumed }));
  else {
    console.log(JSON.stringify({ changed: message.data.after, id: message.id === String(message.data.sequence) }));
    break;
  }
}
while (!mirror.live) await new Promise((resolve) => setTimeout(resolve, 10));
const first = await mirror.limits({ tenantId });
const second = await mirror.limits({ tenantId });
console.log(JSON.stringify({ sources: [first.source, second.source], limits: second.limits }));
mirror.close();
// No process.exit(): the process ends only if the stream left nothing running.
`,
    );
    const child = spawn(process.execPath, ['watch.mjs'], {
      cwd: project,
      env: { ...process.env, BILLING_URL: server.origin, TOKEN: await h.workerToken(), TENANT: tenantId },
    });
    const lines: unknown[] = [];
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    let buffered = '';
    let changed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        const line = JSON.parse(buffered.slice(0, end)) as Record<string, unknown>;
        buffered = buffered.slice(end + 1);
        lines.push(line);
        if ('ready' in line && !changed) {
          changed = true;
          void h.store.tenants.putTenant(tenantId, { overrides: { deployments: 77 } }, 'test');
        }
      }
    });
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill();
        reject(new Error(`the process did not exit: ${JSON.stringify(lines)} ${stderr}`));
      }, 30_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    expect(stderr).toBe('');
    expect(exitCode).toBe(0);
    const limits = await h.limits(tenantId);
    expect(limits.deployments).toBe(77);
    expect(lines).toEqual([
      { ready: false },
      { changed: limits, id: true },
      { sources: ['service', 'mirror'], limits },
    ]);
  });

  it('requires as CommonJS', async () => {
    const tenantId = await h.tenant('free');
    writeFileSync(
      join(project, 'caller.cjs'),
      `const { createBillingClient } = require('billing-limits-client');
const billing = createBillingClient({ url: process.env.BILLING_URL, token: process.env.TOKEN });
billing.limits({ tenantId: process.env.TENANT }).then(async (answer) => {
  // The stream and the mirror too: closed, they leave nothing that keeps the process alive.
  const mirror = billing.createLimitsMirror();
  const stop = new AbortController();
  for await (const message of billing.watchLimits({ signal: stop.signal })) if (message.type === 'ready') stop.abort();
  while (!mirror.live) await new Promise((resolve) => setTimeout(resolve, 10));
  await mirror.limits({ tenantId: process.env.TENANT });
  const mirrored = await mirror.limits({ tenantId: process.env.TENANT });
  mirror.close();
  console.log(JSON.stringify({ limits: answer.limits, mirrored: mirrored.source }));
});
`,
    );
    const { stdout } = await run(process.execPath, ['caller.cjs'], {
      cwd: project,
      env: { BILLING_URL: server.origin, TOKEN: await h.workerToken(), TENANT: tenantId },
    });
    expect(JSON.parse(stdout)).toEqual({ limits: await h.limits(tenantId), mirrored: 'mirror' });
  });
});

describe('type-checked by tsc --strict in the caller’s project', () => {
  /** Each program that must not compile, with the error TypeScript gives for it. */
  const WRONG: Record<string, { code: string; source: string }> = {
    'tenant-id-number.ts': {
      code: 'TS2322',
      source: 'await billing.billing.limits.query({ tenantId: 1 });',
    },
    'unknown-procedure.ts': {
      code: 'TS2339',
      source: 'await billing.billing.deleteEverything.mutate({});',
    },
    'missing-field.ts': {
      code: 'TS2345',
      source: "await billing.reserve({ tenantId: 'org-1' });",
    },
    'wrong-plan.ts': {
      code: 'TS2322',
      source: "await billing.limits({ tenantId: 'org-1', planType: 'platinum' });",
    },
    'lease-seconds-string.ts': {
      code: 'TS2322',
      source: "await billing.renew({ tenantId: 'org-1', reservationId: 'r-1', lease_seconds: '60' });",
    },
    'watch-tenant-number.ts': {
      code: 'TS2322',
      source: 'billing.watchLimits({ tenantId: 1 });',
    },
    'mirror-answer-no-unavailable.ts': {
      code: 'TS2339',
      source:
        "const a = await billing.createLimitsMirror().limits({ tenantId: 'org-1' }); if (a.source === 'mirror') a.unavailable;",
    },
    'unknown-option.ts': {
      code: 'TS2353',
      source: "createBillingClient({ url: 'http://x', token: 't', onUnavailable: 'fail-open', retries: 3 });",
    },
  };
  const header = `import { createBillingClient } from 'billing-limits-client';
const billing = createBillingClient({ url: 'http://127.0.0.1:8000', token: 't' });
void billing;
`;

  let output = '';
  beforeAll(async () => {
    // Strict, no skipLibCheck: the package's declarations are checked as the caller's own code
    // is. tRPC 11's types use `Disposable`, hence the lib entry.
    writeFileSync(
      join(project, 'tsconfig.json'),
      `${JSON.stringify(
        {
          compilerOptions: {
            strict: true,
            noEmit: true,
            target: 'ES2022',
            lib: ['ES2022', 'DOM', 'ESNext.Disposable'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
          },
          include: ['*.ts', '*.cts'],
        },
        null,
        2,
      )}\n`,
    );
    writeFileSync(
      join(project, 'correct.ts'),
      `import {
  type BillingClient,
  type BillingClientOptions,
  conflictCodeOf,
  createBillingClient,
  isBillingClientError,
  type LimitsAnswer,
  type LimitsMirror,
  type LimitsStreamMessage,
  type MirrorLimitsAnswer,
  type RenewInput,
  type Reservation,
} from 'billing-limits-client';

const options: BillingClientOptions = {
  url: 'http://127.0.0.1:8000',
  token: async () => 'a rotated token',
  timeoutMs: 2_000,
  onUnavailable: 'last-known',
  maxStaleMs: 60_000,
  retry: { attempts: 3 },
};
const billing: BillingClient = createBillingClient(options);

export async function limitsOf(tenantId: string): Promise<number | null> {
  const answer: LimitsAnswer = await billing.limits({ tenantId, planType: 'growth' });
  if (answer.source === 'fail-open') return null;
  const fetchedAt: Date = answer.fetchedAt;
  void fetchedAt;
  const plan: 'free' | 'growth' | 'enterprise' = answer.limits.plan_type;
  void plan;
  return answer.limits.deployments;
}

export async function reserveOne(tenantId: string): Promise<Reservation> {
  try {
    return await billing.reserve({ tenantId, resource: 'self_hosted_workers', quantity: 2 });
  } catch (error) {
    if (isBillingClientError(error) && error.data?.code === 'CONFLICT') console.log(error.data.detail);
    throw error;
  }
}

export async function leaseOne(tenantId: string): Promise<string | null> {
  const slot = await billing.reserve({ tenantId, resource: 'self_hosted_workers', lease_seconds: 60 });
  const renewal: RenewInput = { tenantId, reservationId: slot.reservation_id, lease_seconds: 120 };
  try {
    const renewed: Reservation = await billing.renew(renewal, { signal: AbortSignal.timeout(5_000) });
    return renewed.expires_at;
  } catch (error) {
    const code: string | undefined = conflictCodeOf(error);
    if (code === 'reservation_expired') return null;
    throw error;
  } finally {
    await billing.billing.release.mutate({ tenantId, reservationId: slot.reservation_id });
  }
}

export async function watch(signal: AbortSignal): Promise<number[]> {
  const sequences: number[] = [];
  for await (const message of billing.watchLimits({ tenantId: 'org-1', lastEventId: '42', signal })) {
    const seen: LimitsStreamMessage = message;
    const id: string = seen.id;
    void id;
    if (message.type === 'ready') {
      const resumed: boolean = message.data.resumed;
      void resumed;
    } else {
      const after: number | null = message.data.after.deployments;
      const cause: 'orb' | 'admin' | 'catalog' = message.data.cause;
      void after;
      void cause;
      sequences.push(message.data.sequence);
    }
  }
  return sequences;
}

export async function mirrored(tenantId: string): Promise<number | null> {
  const mirror: LimitsMirror = billing.createLimitsMirror({ signal: AbortSignal.timeout(60_000) });
  try {
    const answer: MirrorLimitsAnswer = await mirror.limits({ tenantId });
    if (answer.source === 'fail-open') return null;
    const fetchedAt: Date = answer.fetchedAt;
    void fetchedAt;
    return answer.limits.deployments;
  } finally {
    mirror.close();
  }
}

export async function operator(): Promise<string[]> {
  const plans = await billing.admin.listPlans.query();
  return plans.map((plan) => plan.plan_id);
}
`,
    );
    writeFileSync(
      join(project, 'correct.cts'),
      `import client = require('billing-limits-client');
export const billing: client.BillingClient = client.createBillingClient({ url: 'http://x', token: 't' });
`,
    );
    for (const [file, { source }] of Object.entries(WRONG))
      writeFileSync(join(project, file), header + source);
    const tsc = join(project, 'node_modules', '.bin', 'tsc');
    output = await run(tsc, ['-p', '.'], { cwd: project }).then(
      ({ stdout }) => stdout,
      (error: { stdout?: string }) => error.stdout ?? '',
    );
  }, 120_000);

  const errorsIn = (file: string) =>
    output
      .split('\n')
      .filter((line) => line.startsWith(`${file}(`))
      .map((line) => /error (TS\d+)/.exec(line)?.[1]);

  it('compiles a correct caller, ESM and CommonJS, with no error anywhere else', () => {
    const files = Object.keys(WRONG);
    const elsewhere = output
      .split('\n')
      .filter((line) => /error TS/.test(line) && !files.some((file) => line.startsWith(`${file}(`)));
    expect(elsewhere).toEqual([]);
    expect(errorsIn('correct.ts')).toEqual([]);
    expect(errorsIn('correct.cts')).toEqual([]);
  });

  it.each(Object.entries(WRONG))('refuses %s', (file, { code }) => {
    expect(errorsIn(file)).toEqual([code]);
  });
});
