import { createHash } from 'node:crypto';

/**
 * The console's one stylesheet, served from this origin under its hash (cached for good; a new
 * version is a new URL). No inline `style` anywhere: the Content-Security-Policy allows styles
 * from this file only. System fonts; colours meet WCAG AA contrast on white.
 */
export const CONSOLE_CSS = `
:root { color-scheme: light; --ink: #1d2433; --muted: #5a6272; --line: #d8dce3; --accent: #1f5fbf;
  --bad: #b42318; --warn: #a15c07; --ok: #17663a; --panel: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #f0b429; outline-offset: 2px; }
header.top { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #122a4d; color: #fff; }
header.top .brand { font-weight: 600; }
header.top nav { display: flex; gap: 4px; flex: 1; }
header.top nav a { color: #fff; text-decoration: none; padding: 6px 12px; border-radius: 6px; }
header.top nav a[aria-current="page"] { background: #2c4f86; }
header.top nav a:hover { background: #234175; }
header.top form { display: flex; align-items: center; gap: 10px; margin: 0; }
header.top .who { color: #cfd8e6; }
main { max-width: 1160px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 24px; margin: 8px 0 16px; }
h2 { font-size: 18px; margin: 28px 0 10px; }
section.panel { border: 1px solid var(--line); border-radius: 8px; padding: 4px 16px 14px; margin-bottom: 18px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 18px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
button, .button { font: inherit; padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent);
  background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
header.top button { background: transparent; border-color: #9fb3d1; }
label { display: block; font-weight: 600; margin: 10px 0 4px; }
input[type="text"], input[type="password"], input[type="search"], select { font: inherit; padding: 6px 8px;
  border: 1px solid #8a93a3; border-radius: 6px; min-width: 260px; }
input[aria-invalid="true"] { border-color: var(--bad); }
.hint { color: var(--muted); font-size: 13px; margin: 4px 0 0; }
.field-error { color: var(--bad); font-weight: 600; margin: 4px 0 0; }
.notice { border-radius: 8px; padding: 10px 14px; margin: 0 0 16px; }
.notice.ok { background: #e7f5ec; border: 1px solid #9ad0ad; }
.notice.bad { background: #fdecea; border: 1px solid #f1a39b; }
.notice.warn { background: #fff4e0; border: 1px solid #f0c36d; }
.notice ul { margin: 4px 0 0; padding-left: 20px; }
.sign-in { max-width: 420px; margin: 80px auto; border: 1px solid var(--line); border-radius: 10px; padding: 8px 24px 24px; }
.sign-in button { margin-top: 16px; }
.search { display: flex; align-items: end; gap: 10px; margin-bottom: 14px; }
.search label { margin: 0 0 4px; }
.pager { display: flex; gap: 12px; margin-top: 12px; }
meter { width: 180px; height: 14px; vertical-align: middle; }
.usage { display: flex; align-items: center; gap: 10px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: var(--panel); border: 1px solid var(--line); }
.badge.override { background: #e8f0fc; border-color: #9dbbea; }
.badge.failed, .badge.over { background: #fdecea; border-color: #f1a39b; }
.badge.applied, .badge.delivered { background: #e7f5ec; border-color: #9ad0ad; }
.edit-form .fields { display: flex; flex-wrap: wrap; gap: 18px; }
.edit-form .actions { margin-top: 14px; }
.chart svg { width: 100%; height: auto; max-height: 240px; }
.chart .axis { stroke: #8a93a3; stroke-width: 1; }
.chart .gridline { stroke: #e6e9ee; stroke-width: 1; }
.chart text { fill: var(--muted); font-size: 11px; }
.chart polyline { fill: none; stroke-width: 1.6; }
.series-grants { stroke: #1f5fbf; color: #1f5fbf; }
.series-releases { stroke: #17663a; color: #17663a; }
.series-refusals { stroke: #b42318; color: #b42318; }
.series-expiries { stroke: #a15c07; color: #a15c07; }
.legend { display: flex; gap: 16px; margin: 6px 0 0; padding: 0; list-style: none; font-size: 13px; }
.legend li::before { content: ""; display: inline-block; width: 12px; height: 3px; margin-right: 6px; vertical-align: middle; background: currentColor; }
.diff { font-size: 13px; }
.diff del { color: var(--bad); }
.diff ins { color: var(--ok); text-decoration: none; }
.inline-form { display: inline; margin: 0; }
.plan-form { display: flex; gap: 8px; align-items: center; }
.plan-form input[type="text"] { min-width: 90px; width: 110px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

/** Where the stylesheet is served: its content's hash in the name, so a browser may keep it a year. */
export const CONSOLE_CSS_PATH = `/console/assets/console-${createHash('sha256').update(CONSOLE_CSS).digest('hex').slice(0, 12)}.css`;
