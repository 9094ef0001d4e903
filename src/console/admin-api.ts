import type { BillingServices } from '../api/context.js';
import { toFastApiFailure } from '../api/errors.js';
import { createCaller } from '../api/router.js';
import { signAdminToken } from '../auth/admin-token.js';

/** The admin API as the console calls it: the same procedures, auth and validation as `/admin/*`. */
export type AdminApi = ReturnType<typeof createCaller>['admin'];

/**
 * The admin API on behalf of `subject`: every call carries an admin token minted for it (short-
 * lived, never leaving the process), so the console passes the same auth as any operator's call
 * and the audit log names the signed-in operator.
 */
export function adminApiFor(
  services: BillingServices,
  adminSecret: string,
  now: () => number,
): (subject: string, deadline: number | undefined) => AdminApi {
  return (subject, deadline) => {
    // The session already proved who this is; one token per request (a page makes several calls),
    // minted here and verified as any other.
    let claims: ReturnType<NonNullable<BillingServices['authenticateAdmin']>> | undefined;
    const authenticateAdmin = () => {
      claims ??= signAdminToken(adminSecret, { subject, ttlSeconds: 60, nowMs: now() }).then((token) => {
        if (!services.authenticateAdmin) throw new Error('the admin API is off');
        return services.authenticateAdmin(`Bearer ${token}`);
      });
      return claims;
    };
    return createCaller({ authorization: undefined, deadline, services: { ...services, authenticateAdmin } })
      .admin;
  };
}

/** A failed call in the API's own words: its status, and each message by the input field it is about. */
export interface ApiFailure {
  readonly status: number;
  /** `detail` as the REST route answers it: a sentence, or FastAPI's list of `{loc, msg}`. */
  readonly detail: unknown;
  /** Messages by input path (`overrides.deployments`); `''` for those about no field. */
  readonly fields: ReadonlyMap<string, string>;
}

export function apiFailureOf(error: unknown, input: unknown): ApiFailure {
  const { status, detail } = toFastApiFailure(error, input, (path) => path.map(String));
  const fields = new Map<string, string>();
  const add = (field: string, message: string) =>
    fields.set(field, fields.has(field) ? `${fields.get(field)} ${message}` : message);
  if (Array.isArray(detail)) {
    for (const issue of detail as { loc?: unknown; msg?: unknown }[]) {
      const loc = Array.isArray(issue.loc) ? issue.loc.join('.') : '';
      add(loc, String(issue.msg ?? 'Invalid value'));
    }
  } else {
    add('', typeof detail === 'string' ? detail : JSON.stringify(detail));
  }
  return { status, detail, fields };
}
