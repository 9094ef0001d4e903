/**
 * The package entry (`exports["."]`, `src/index.ts`) as an embedding process imports it: by the
 * package's name, in a plain `node` process, as the README's "Embedding" section shows.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const packageName = (JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { name: string }).name;

/** Runs `code` as an ES module in a `node` process at the repository root (so the name resolves to it). */
async function runModule(code: string): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '--eval', code],
    { cwd: root, timeout: 40_000 },
  );
  return stdout;
}

describe(`import … from '${packageName}'`, () => {
  it("exports what the README's Embedding section imports from it", async () => {
    const readme = readFileSync(`${root}/README.md`, 'utf8');
    const imported = [...readme.matchAll(new RegExp(`import \\{([^}]+)\\} from '${packageName}'`, 'g'))]
      .flatMap((m) => (m[1] ?? '').split(','))
      .map((name) => name.trim())
      .filter(Boolean);
    expect(imported).toContain('createBillingApp');
    const exported = JSON.parse(
      await runModule(`console.log(JSON.stringify(Object.keys(await import('${packageName}'))))`),
    ) as string[];
    for (const name of imported) expect(exported, name).toContain(name);
  });

  it('serves the limits of an embedded store, with tokens its own signer minted', async () => {
    const secret = 'embedded-secret-0123456789abcdef0123';
    const output = await runModule(`
      import { BillingLimitsResponse, createBillingApp, openBillingStore, signWorkerToken } from '${packageName}';
      const store = await openBillingStore({ seedDemo: true });
      const app = createBillingApp({ config: { jwtSecret: '${secret}' }, dependencies: { store } });
      const token = await signWorkerToken('${secret}');
      const ask = async (tenant, authorization) =>
        app.request('/billing/limits', { headers: { 'tenant-id': tenant, authorization } });
      const granted = await ask('org-123', 'Bearer ' + token);
      console.log(granted.status, JSON.stringify(BillingLimitsResponse.parse(await granted.json())));
      const unknown = await ask('org-nobody', 'Bearer ' + token);
      console.log(unknown.status, await unknown.text());
      const forged = await ask('org-123', 'Bearer ' + (await signWorkerToken('another-secret-0123456789abcdef012')));
      console.log(forged.status, await forged.text());
      await store.close();
    `);
    expect(output.trim().split('\n')).toEqual([
      '200 {"tenant_id":"org-123","limits":{"deployments":1,"self_hosted_workers":5,"plan_type":"free"}}',
      '404 {"detail":"Tenant not found"}',
      '401 {"detail":"Invalid token. Error: Signature verification failed"}',
    ]);
  }, 60_000);
});
