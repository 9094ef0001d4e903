import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { tenantView } from '../api/admin/views.js';
import type { AppRouter } from '../api/router.js';
import { signAdminToken } from '../auth/admin-token.js';
import type { BillingConfig } from '../config.js';
import type { PlanUpdate, PlanView, TenantUpdate, TenantView } from '../contract/admin.js';
import type { PlanType } from '../contract/plans.js';
import { DataDirInUse, type DataDirOwner, lockDataDir, readDataDirOwner } from '../db/data-dir-lock.js';
import { openBillingStore } from '../db/store.js';
import { DomainError } from '../domain/errors.js';
import { createAdministration } from '../domain/limits/administration.js';

/** What the admin CLI does to plans and tenants, whether on the store itself or through a server. */
export interface AdminBackend {
  listPlans(): Promise<PlanView[]>;
  setPlan(planId: PlanType, update: PlanUpdate): Promise<PlanView>;
  showTenant(tenantId: string): Promise<TenantView>;
  putTenant(tenantId: string, update: TenantUpdate): Promise<TenantView>;
  clearOverrides(tenantId: string): Promise<TenantView>;
  close(): Promise<void>;
}

/** A command that could not be carried out (printed as `error: …`, exit code 1). */
export class AdminFailure extends Error {
  override readonly name = 'AdminFailure';
}

/** Who the audit log names for a CLI write, on either path. */
export const cliActor = () => `cli:${userInfo().username}`;

/** How long the CLI waits for a server that holds the store to say where it listens. */
const SERVER_STARTUP_WAIT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Picks the path, in this order: the server at `serverUrl` (BILLING_URL) when given; PostgreSQL
 * directly (many processes share it; the running servers hear each write through its NOTIFY);
 * the embedded store directly when no process holds it — locked for the command's duration, so
 * no server can start on it meanwhile; else the server that holds it, through its admin API.
 */
export async function connectAdmin(
  config: BillingConfig,
  serverUrl: string | undefined,
): Promise<AdminBackend> {
  if (serverUrl) return remoteBackend(serverUrl, adminSecretFor(config, serverUrl));
  if (config.databaseUrl) return directBackend(config, undefined);
  try {
    const lock = await lockDataDir(config.dataDir, 'admin-cli');
    return await directBackend(config, lock).catch(async (error: unknown) => {
      await lock.release();
      throw error;
    });
  } catch (error) {
    if (!(error instanceof DataDirInUse) || error.holder?.role !== 'server') {
      throw error instanceof DataDirInUse ? new AdminFailure(error.message) : error;
    }
    const url = await publishedUrlOf(config.dataDir, error.holder);
    return remoteBackend(url, adminSecretFor(config, url));
  }
}

/** A server that holds the store but is still starting publishes its URL once it listens. */
async function publishedUrlOf(dataDir: string, holder: DataDirOwner): Promise<string> {
  const deadline = Date.now() + SERVER_STARTUP_WAIT_MS;
  let owner: DataDirOwner | undefined = holder;
  while (!owner?.url) {
    if (owner?.pid !== holder.pid || Date.now() >= deadline) {
      throw new AdminFailure(`${new DataDirInUse(dataDir, holder).message}, which has not started listening`);
    }
    await sleep(200);
    owner = readDataDirOwner(dataDir);
  }
  return owner.url;
}

/**
 * The configured admin secret, else the one a development server generated for this run (from
 * the lock file of the store it holds, and only for that server's URL).
 */
function adminSecretFor(config: BillingConfig, url: string): string | undefined {
  if (config.adminSecret) return config.adminSecret;
  const owner = config.databaseUrl ? undefined : readDataDirOwner(config.dataDir);
  return owner?.url === url ? owner.admin_secret : undefined;
}

async function directBackend(
  config: BillingConfig,
  lock: Awaited<ReturnType<typeof lockDataDir>> | undefined,
): Promise<AdminBackend> {
  const store = await openBillingStore({
    url: config.databaseUrl,
    listenUrl: config.listenDatabaseUrl,
    prepare: config.databasePrepare,
    dataDir: config.dataDir,
    dataDirLock: lock,
    seedDemo: config.seedDemo,
  });
  // The store's NOTIFY tells running replicas; this process has no cache to keep.
  const admin = createAdministration(store.tenants, () => {});
  const actor = cliActor();
  const failing = async <T>(operation: Promise<T>): Promise<T> => {
    try {
      return await operation;
    } catch (error) {
      throw error instanceof DomainError ? new AdminFailure(error.message) : error;
    }
  };
  return {
    listPlans: () => failing(admin.listPlans()),
    setPlan: (planId, update) => failing(admin.setPlan(planId, update, actor)),
    showTenant: async (tenantId) => tenantView(await failing(admin.showTenant(tenantId))),
    putTenant: async (tenantId, update) =>
      tenantView(await failing(admin.putTenant(tenantId, update, actor))),
    clearOverrides: async (tenantId) => tenantView(await failing(admin.clearOverrides(tenantId, actor))),
    async close() {
      await store.close();
      await lock?.release();
    },
  };
}

function remoteBackend(url: string, adminSecret: string | undefined): AdminBackend {
  if (!adminSecret) {
    throw new AdminFailure(
      `the server at ${url} holds the store; to write through its admin API, set BILLING_ADMIN_SECRET to the server's`,
    );
  }
  // tRPC's own client: the server ships with it, and the CLI needs none of the client package's
  // last-known answers or retries (an operator sees the failure and runs the command again).
  const billing = createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${url.replace(/\/+$/, '')}/trpc`,
        fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }),
        // Minted per call, short-lived, with the same actor the direct path writes into the audit log.
        headers: async () => ({
          authorization: `Bearer ${await signAdminToken(adminSecret, { subject: cliActor(), ttlSeconds: 60 })}`,
        }),
      }),
    ],
  });
  const failing = async <T>(call: Promise<T>): Promise<T> => {
    try {
      return await call;
    } catch (error) {
      throw remoteFailure(url, error);
    }
  };
  return {
    listPlans: () => failing(billing.admin.listPlans.query()),
    setPlan: (planId, update) => failing(billing.admin.setPlan.mutate({ planId, ...update })),
    showTenant: (tenantId) => failing(billing.admin.getTenant.query({ tenantId })),
    putTenant: (tenantId, update) => failing(billing.admin.putTenant.mutate({ tenantId, ...update })),
    clearOverrides: (tenantId) => failing(billing.admin.clearOverrides.mutate({ tenantId })),
    close: async () => {},
  };
}

/** The server's answer in the words the direct path would use; the server's state in plain words. */
function remoteFailure(url: string, error: unknown): Error {
  if (!(error instanceof TRPCClientError)) return error as Error;
  const { data } = error as TRPCClientError<AppRouter>;
  if (!data) {
    const cause = error.cause instanceof Error ? (error.cause.cause ?? error.cause) : error.cause;
    return new AdminFailure(
      `cannot reach the server at ${url}: ${(cause as Error | undefined)?.message ?? error.message}`,
    );
  }
  if (data.httpStatus === 401) {
    return new AdminFailure(
      `the server at ${url} refused the admin token: is BILLING_ADMIN_SECRET the server's?`,
    );
  }
  if (data.code === 'NOT_FOUND' && error.message === 'Not Found') {
    return new AdminFailure(`the server at ${url} has no admin API: start it with BILLING_ADMIN_SECRET set`);
  }
  return new AdminFailure(error.message);
}
