import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { ConsoleSession } from '../session.js';
import { CONSOLE_CSS_PATH } from '../styles.js';

export type Markup = HtmlEscapedString | Promise<HtmlEscapedString>;

/** The console's sections, in the navigation's order. */
export const SECTIONS = [
  { name: 'Overview', path: '/console' },
  { name: 'Tenants', path: '/console/tenants' },
  { name: 'Plans', path: '/console/plans' },
  { name: 'Webhooks', path: '/console/webhooks' },
] as const;
export type SectionName = (typeof SECTIONS)[number]['name'];

function document(title: string, body: Markup): Markup {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — Billing limits console</title>
<link rel="stylesheet" href="${CONSOLE_CSS_PATH}">
</head>
<body>
${body}
</body>
</html>`;
}

/** A page of a signed-in operator: the navigation, who is signed in, "Sign out", and the content. */
export function consolePage(
  { title, section, session }: { title: string; section: SectionName | undefined; session: ConsoleSession },
  content: Markup,
): Markup {
  return document(
    title,
    html`<header class="top">
<span class="brand">Billing limits console</span>
<nav aria-label="Console">
${SECTIONS.map(
  ({ name, path }) =>
    html`<a href="${path}"${name === section ? html` aria-current="page"` : ''}>${name}</a>`,
)}
</nav>
<form method="post" action="/console/sign-out">
<span class="who">Signed in as <strong>${session.subject}</strong></span>
<input type="hidden" name="csrf" value="${session.csrf}">
<button type="submit">Sign out</button>
</form>
</header>
<main id="main">
${content}
</main>`,
  );
}

/** A page without the navigation: sign-in, and answers to a request that has no session. */
export function bareConsolePage(title: string, content: Markup): Markup {
  return document(title, html`<main id="main">${content}</main>`);
}

/** A notice at the top of a page: `ok` after a change, `bad` for a refusal. */
export function notice(kind: 'ok' | 'bad' | 'warn', heading: string, lines: readonly string[] = []): Markup {
  return html`<div class="notice ${kind}" role="${kind === 'bad' ? 'alert' : 'status'}">
<strong>${heading}</strong>
${lines.length > 0 ? html`<ul>${lines.map((line) => html`<li>${line}</li>`)}</ul>` : ''}
</div>`;
}
