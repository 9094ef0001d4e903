import { html } from 'hono/html';
import { bareConsolePage, type Markup, notice } from './layout.js';

/**
 * The sign-in form: an admin token (from `npm run admin -- token <name>`), posted — never in a URL.
 * `next` is where to go after; `problem` why the last attempt failed.
 */
export function signInPage({
  next,
  problem,
}: {
  next?: string | undefined;
  problem?: string | undefined;
}): Markup {
  return bareConsolePage(
    'Sign in',
    html`<div class="sign-in">
<h1>Billing limits console</h1>
${problem ? notice('bad', problem) : ''}
<form method="post" action="/console/sign-in">
${next ? html`<input type="hidden" name="next" value="${next}">` : ''}
<label for="token">Admin token</label>
<input type="password" id="token" name="token" required autocomplete="off" spellcheck="false" aria-describedby="token-hint"${problem ? html` aria-invalid="true"` : ''} autofocus>
<p class="hint" id="token-hint">Mint one with <code>npm run -s admin -- token admin --sub &lt;your name&gt;</code>; the name is what the audit log shows.</p>
<button type="submit">Sign in</button>
</form>
</div>`,
  );
}

/** A page for a request that cannot go on: why, and where to go from here. */
export function problemPage(title: string, message: string, link: { href: string; text: string }): Markup {
  return bareConsolePage(
    title,
    html`<div class="sign-in">
<h1>${title}</h1>
${notice('bad', message)}
<p><a href="${link.href}">${link.text}</a></p>
</div>`,
  );
}
