/**
 * Signing in to the console and posting its forms as a browser would, over `app.request`: the
 * session cookie kept, the CSRF token read from the page, `Origin` set to the app's own.
 */
import type { Harness } from '../support/harness.js';

export const ORIGIN = 'http://localhost';

export interface ConsoleVisitor {
  /** The `Cookie` header this visitor sends (the session, and a flash after a change). */
  cookie: string;
  /** The CSRF token of the session, read from a page's form. */
  csrf: string;
  get(path: string): Promise<Response>;
  /** A form post from this console's own page (`Origin` the app's, the CSRF token added unless given). */
  post(path: string, fields: Record<string, string>, headers?: Record<string, string>): Promise<Response>;
}

/** Cookies from `Set-Cookie` headers into a jar: a deletion (`Max-Age=0`) removes its cookie. */
function keep(jar: Map<string, string>, response: Response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair = '', ...attributes] = line.split(';');
    const [name = '', value = ''] = pair.split('=');
    if (attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute))) jar.delete(name.trim());
    else jar.set(name.trim(), value.trim());
  }
}

export const csrfIn = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1];

/** A visitor signed in with an admin token of `subject`, on `h`'s app. */
export async function signedIn(h: Harness, subject = 'alice'): Promise<ConsoleVisitor> {
  const jar = new Map<string, string>();
  const cookie = () => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  const visitor: ConsoleVisitor = {
    get cookie() {
      return cookie();
    },
    csrf: '',
    async get(path) {
      const response = await h.request(path, { headers: { cookie: cookie() } });
      keep(jar, response);
      return response;
    },
    async post(path, fields, headers = {}) {
      const response = await h.request(path, {
        method: 'POST',
        headers: {
          cookie: cookie(),
          origin: ORIGIN,
          'content-type': 'application/x-www-form-urlencoded',
          ...headers,
        },
        body: new URLSearchParams({ csrf: visitor.csrf, ...fields }),
      });
      keep(jar, response);
      return response;
    },
  };
  const signIn = await h.request('/console/sign-in', {
    method: 'POST',
    headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: await h.adminToken(subject) }),
  });
  if (signIn.status !== 303) throw new Error(`sign-in answered ${signIn.status}: ${await signIn.text()}`);
  keep(jar, signIn);
  const page = await (await visitor.get('/console/plans')).text();
  const csrf = csrfIn(page);
  if (!csrf) throw new Error(`no CSRF token on /console/plans: ${page.slice(0, 300)}`);
  visitor.csrf = csrf;
  return visitor;
}
