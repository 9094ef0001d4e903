import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { WORKER_SECRET } from './support/harness.js';

/**
 * The container files (Dockerfile, docker-compose.yml, deploy/prometheus.yml) cannot be built or
 * run here (no Docker engine), so this checks them as text and runs what the image runs: the
 * compiled server, laid out as in the image (dist/, drizzle/ and package.json side by side), with
 * the image's production settings, probed by the Dockerfile's own HEALTHCHECK command.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');

// ---- Dockerfile, as instructions --------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

/** Comments dropped, continuation lines joined, one entry per instruction (keyword upper-cased). */
function parseDockerfile(text: string): Instruction[] {
  const withoutComments = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n');
  return withoutComments
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const keyword = line.split(/\s+/)[0] ?? '';
      return { keyword: keyword.toUpperCase(), args: line.slice(keyword.length).trim() };
    });
}

/** Each stage's instructions, `FROM` first. */
function stagesOf(instructions: readonly Instruction[]): Instruction[][] {
  const stages: Instruction[][] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') stages.push([]);
    stages.at(-1)?.push(instruction);
  }
  return stages;
}

/** `KEY=value` pairs of the stage's ENV instructions (values without spaces or quotes, as ours are). */
function envOf(stage: readonly Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { keyword, args } of stage) {
    if (keyword !== 'ENV') continue;
    for (const [, key = '', value = ''] of args.matchAll(/(\w+)=(\S*)/g)) env[key] = value;
  }
  return env;
}

/** The shell command of the HEALTHCHECK (Docker runs it with `/bin/sh -c`). */
function healthcheckCommand(stage: readonly Instruction[]): string {
  const healthcheck = stage.find((instruction) => instruction.keyword === 'HEALTHCHECK');
  const command = healthcheck?.args.match(/^(?:--\S+\s+)*CMD\s+(.+)$/)?.[1];
  if (!command) throw new Error(`no HEALTHCHECK CMD in the final stage: ${healthcheck?.args}`);
  return command;
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const stages = stagesOf(dockerfile);
const finalStage = stages.at(-1) ?? [];

// ---- docker-compose.yml and deploy/prometheus.yml, parsed --------------------------------------

interface ComposeService {
  build?: string;
  image?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition?: string }>;
  ports?: string[];
  stop_grace_period?: string;
  healthcheck?: { test?: string[] };
  volumes?: string[];
}

const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const services = new Map(Object.entries(compose.services));
const billingServices = [...services.keys()].filter((name) => name.startsWith('billing-'));
const billing = (name: string): ComposeService => services.get(name) ?? {};

// ---- the compiled server, laid out as in the image ---------------------------------------------

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }) {
  return new Promise<Exit & { output: string }>((resolve) => {
    execFile(file, args, { ...options, timeout: 120_000 }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
      resolve({
        code: failure ? (typeof failure.code === 'number' ? failure.code : null) : 0,
        signal: failure?.signal ?? null,
        output: `${stdout}${stderr}`,
      });
    });
  });
}

/** Resolves with the first match of `pattern` on the child's stdout; rejects at the deadline or on exit. */
function waitForOutput(child: ChildProcessWithoutNullStreams, pattern: RegExp, timeoutMs: number) {
  return new Promise<RegExpMatchArray>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const done = () => {
      clearTimeout(timer);
      child.stdout.off('data', onStdout);
      child.stderr.off('data', onStderr);
      child.off('exit', onExit);
    };
    const onStdout = (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = stdout.match(pattern);
      if (match) {
        done();
        resolve(match);
      }
    };
    const onStderr = (chunk: Buffer) => {
      stderr += chunk.toString();
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`server exited with ${code} before printing ${pattern}:\n${stdout}${stderr}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${stdout}${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', onStdout);
    child.stderr.on('data', onStderr);
    child.once('exit', onExit);
  });
}

function javascriptFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.js'))
    .map((file) => join(dir, file));
}

/** `@scope/name` or `name` of a bare import specifier; undefined for relative paths and builtins. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) {
    return undefined;
  }
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

describe('Dockerfile', () => {
  it('builds in one stage and runs in another, both on the same pinned Node.js slim image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const images = stages.map((stage) => stage[0]?.args.split(/\s+/)[0]);
    // The current LTS line (24), at the version CI runs every test on (.ci/run).
    const ciLines = /OTHER_NODE_LINES=\(([^)]*)\)/.exec(read('.ci/run'))?.[1]?.split(/\s+/) ?? [];
    const tested = ciLines.find((version) => version.startsWith('24.'));
    expect(tested).toBeDefined();
    const [major, minor] = (tested ?? '').split('.');
    for (const image of images) expect(image).toBe(`node:${major}.${minor}-bookworm-slim`);
    expect(new Set(images).size).toBe(1);
    const build = stages.slice(0, -1).flat();
    expect(build.some(({ keyword, args }) => keyword === 'RUN' && /\bnpm ci\b/.test(args))).toBe(true);
    expect(build.some(({ keyword, args }) => keyword === 'RUN' && /\bnpm run build\b/.test(args))).toBe(true);
  });

  it('installs only production dependencies from the lockfile in the final stage', () => {
    const runs = finalStage.filter(({ keyword }) => keyword === 'RUN').map(({ args }) => args);
    expect(runs.some((args) => /\bnpm ci\b.*--omit=dev/.test(args))).toBe(true);
    const copies = finalStage.filter(({ keyword }) => keyword === 'COPY').map(({ args }) => args);
    expect(copies.some((args) => /package-lock\.json/.test(args))).toBe(true);
    expect(copies.some((args) => /^--from=\S+\s+\S*dist\s/.test(args))).toBe(true);
    expect(copies.some((args) => /\bdrizzle\b/.test(args))).toBe(true);
  });

  it('runs as a non-root user, in production mode, on all interfaces', () => {
    const user = finalStage.filter(({ keyword }) => keyword === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const env = envOf(finalStage);
    expect(env['NODE_ENV']).toBe('production');
    expect(env['HOST']).toBe('0.0.0.0');
    expect(env['PORT']).toBe('8000');
    const exposed = finalStage
      .filter(({ keyword }) => keyword === 'EXPOSE')
      .flatMap(({ args }) => args.split(/\s+/));
    expect(exposed).toContain('8000');
  });

  it('starts node on dist/server.js in exec form, stops with SIGTERM and has a health check', () => {
    const cmd = finalStage.filter(({ keyword }) => keyword === 'CMD').at(-1)?.args ?? '';
    expect(JSON.parse(cmd)).toEqual(['node', 'dist/server.js']);
    expect(finalStage.some(({ keyword }) => keyword === 'ENTRYPOINT')).toBe(false);
    expect(finalStage.find(({ keyword }) => keyword === 'STOPSIGNAL')?.args).toBe('SIGTERM');
    expect(healthcheckCommand(finalStage)).toContain('/healthz');
  });
});

describe('docker-compose.yml and deploy/prometheus.yml', () => {
  it('runs two replicas of one image against the postgres service', () => {
    expect(services.get('postgres')?.healthcheck?.test).toContain('pg_isready');
    expect(billingServices).toEqual(['billing-1', 'billing-2']);
    const [first, second] = billingServices.map(billing);
    expect(first?.build).toBeDefined();
    // The replicas differ in nothing but the host port they publish.
    expect(first?.ports).not.toEqual(second?.ports);
    expect({ ...first, ports: [] }).toEqual({ ...second, ports: [] });
  });

  it('configures each replica for production on PostgreSQL, with metrics on their own port', () => {
    for (const name of billingServices) {
      const { environment: env = {}, depends_on } = billing(name);
      expect(env['NODE_ENV']).toBe('production');
      expect(env['DATABASE_URL']).toMatch(/^postgres:\/\/[^@]+@postgres:5432\/billing$/);
      expect(env['BILLING_JWT_SECRET']).toMatch(/^\$\{BILLING_JWT_SECRET:\?/);
      expect(env['BILLING_METRICS_PORT']).toMatch(/^\d+$/);
      expect(depends_on?.['postgres']?.condition).toBe('service_healthy');
    }
  });

  it('gives each replica a stop grace period longer than its drain', () => {
    for (const name of billingServices) {
      const { environment: env = {}, stop_grace_period } = billing(name);
      const grace = stop_grace_period?.match(/^(\d+)s$/)?.[1];
      expect(grace).toBeDefined();
      const drainMs =
        Number(env['BILLING_SHUTDOWN_DELAY_MS'] ?? 0) + Number(env['BILLING_SHUTDOWN_TIMEOUT_MS'] ?? 10_000);
      expect(Number(grace) * 1000).toBeGreaterThan(drainMs);
    }
  });

  it('has Prometheus scrape every replica on its metrics port', () => {
    const prometheus = parseYaml(read('deploy/prometheus.yml')) as {
      scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    const [job] = prometheus.scrape_configs;
    expect(job).toMatchObject({ job_name: 'billing-limits', metrics_path: '/metrics' });
    const targets = job?.static_configs.flatMap(({ targets }) => targets);
    const expected = billingServices.map(
      (name) => `${name}:${billing(name).environment?.['BILLING_METRICS_PORT']}`,
    );
    expect(targets).toEqual(expected);
    expect(services.get('prometheus')?.volumes).toContain(
      './deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
    );
  });
});

describe('the compiled server as the image runs it', { timeout: 60_000 }, () => {
  const workDir = mkdtempSync(join(tmpdir(), 'billing-deploy-'));
  const appDir = join(workDir, 'app');
  const children: ChildProcessWithoutNullStreams[] = [];
  let compiled: Exit & { output: string };

  beforeAll(async () => {
    // The image's /app: dist/ next to drizzle/ (found at ../../drizzle from dist/db/) and
    // package.json ("type": "module"). node_modules is this checkout's, by symlink.
    mkdirSync(appDir);
    symlinkSync(join(root, 'node_modules'), join(appDir, 'node_modules'), 'dir');
    symlinkSync(join(root, 'drizzle'), join(appDir, 'drizzle'), 'dir');
    copyFileSync(join(root, 'package.json'), join(appDir, 'package.json'));
    compiled = await run(
      process.execPath,
      [
        join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        'tsconfig.build.json',
        '--outDir',
        join(appDir, 'dist'),
      ],
      { cwd: root },
    );
  }, 120_000);

  afterAll(() => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    // rmSync removes the symlinks themselves, never what they point to.
    rmSync(workDir, { recursive: true, force: true });
  });

  it('compiles with tsconfig.build.json', () => {
    expect(compiled.output).toBe('');
    expect(compiled.code).toBe(0);
  });

  it('imports no package that `npm ci --omit=dev` leaves out', () => {
    const dependencies = Object.keys(
      (JSON.parse(read('package.json')) as { dependencies?: Record<string, string> }).dependencies ?? {},
    );
    const imported = new Set<string>();
    for (const file of javascriptFilesUnder(join(appDir, 'dist'))) {
      const source = readFileSync(file, 'utf8');
      // `… from 'x';` and `import 'x';` end their line in tsc's output; `import('x')` may be anywhere.
      const specifiers = source.matchAll(
        /(?:\bfrom|^import)\s*['"]([^'"]+)['"];?$|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm,
      );
      for (const [, staticImport, dynamicImport] of specifiers) {
        const name = packageOf(staticImport ?? dynamicImport ?? '');
        if (name) imported.add(name);
      }
    }
    expect(imported.size).toBeGreaterThan(0);
    expect([...imported].filter((name) => !dependencies.includes(name))).toEqual([]);
  });

  it('runs the admin CLI as `node dist/cli/admin.js`', async () => {
    expect(compiled.code).toBe(0);
    const env = {
      PATH: process.env['PATH'] ?? '',
      // The container's environment, as `docker exec` passes it on.
      NODE_ENV: 'production',
      BILLING_JWT_SECRET: WORKER_SECRET,
      BILLING_DATA_DIR: join(workDir, 'cli-data', 'pglite'),
    };
    const cli = join(appDir, 'dist', 'cli', 'admin.js');
    const help = await run(process.execPath, [cli, '--help'], { cwd: appDir, env });
    expect(help.code).toBe(0);
    expect(help.output).toContain('Usage: admin <command> [options]');
    const plans = await run(process.execPath, [cli, '--json', 'plan', 'list'], { cwd: appDir, env });
    expect(plans.output).toMatch(/^\[/);
    expect(plans.code).toBe(0);
    expect((JSON.parse(plans.output) as { plan_id: string }[]).map((plan) => plan.plan_id)).toEqual([
      'enterprise',
      'free',
      'growth',
    ]);
  });

  it('serves health, readiness and metrics, passes the HEALTHCHECK, and exits 0 on SIGTERM', async () => {
    expect(compiled.code).toBe(0);
    const env = {
      PATH: [dirname(process.execPath), process.env['PATH'] ?? ''].join(delimiter),
      HOST: '127.0.0.1',
      PORT: '0',
      BILLING_DATA_DIR: join(workDir, 'data', 'pglite'),
      BILLING_METRICS_PORT: '0',
      NODE_ENV: 'production',
      BILLING_JWT_SECRET: WORKER_SECRET,
    };
    const child = spawn(process.execPath, [join(appDir, 'dist', 'server.js')], { cwd: appDir, env });
    children.push(child);
    const exited = new Promise<Exit>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const [, origin = '', metricsOrigin = ''] = await waitForOutput(
      child,
      /listening on (http:\/\/\S+)[\s\S]*\nMetrics: (http:\/\/\S+)\/metrics/,
      30_000,
    );
    const port = new URL(origin).port;

    const health = await fetch(`${origin}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${origin}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await fetch(`${metricsOrigin}/metrics`);
    expect(metrics.status).toBe(200);
    await metrics.text();
    expect((await fetch(`${origin}/metrics`)).status).toBe(404);

    // Docker runs a shell-form HEALTHCHECK with /bin/sh -c, in the container's environment.
    const probe = healthcheckCommand(finalStage);
    const healthy = await run('/bin/sh', ['-c', probe], { env: { PATH: env.PATH, PORT: port } });
    expect(healthy).toMatchObject({ code: 0 });

    child.kill('SIGTERM');
    const deadline = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('no exit within 10 s of SIGTERM')), 10_000).unref(),
    );
    expect(await Promise.race([exited, deadline])).toEqual({ code: 0, signal: null });

    // With nothing listening the same probe fails: it checks something.
    const unhealthy = await run('/bin/sh', ['-c', probe], { env: { PATH: env.PATH, PORT: port } });
    expect(unhealthy.code).not.toBe(0);
  });
});
