import { html } from 'hono/html';
import type { Markup } from './layout.js';

export const ACTIVITY_SERIES = ['grants', 'releases', 'refusals', 'expiries'] as const;
export type ActivitySeries = (typeof ACTIVITY_SERIES)[number];

export interface ActivityBucketLike {
  readonly hour: string;
  readonly grants: number;
  readonly releases: number;
  readonly refusals: number;
  readonly expiries: number;
}

const WIDTH = 840;
const HEIGHT = 200;
const PAD = { left: 36, right: 8, top: 10, bottom: 24 };
const HOUR_MS = 3_600_000;

/**
 * Grants, releases, refusals and expiries per hour from `from` to `to` as an SVG line chart (no
 * script, no library: drawn here, styled by the stylesheet), with its totals in the accessible
 * name and in a table beside it for those who don't see the lines.
 */
export function activityChart(
  { from, to, buckets }: { from: string; to: string; buckets: readonly ActivityBucketLike[] },
  caption: string,
): Markup {
  const start = Date.parse(from);
  const hours = Math.max(1, Math.round((Date.parse(to) - start) / HOUR_MS));
  const perHour = Object.fromEntries(
    ACTIVITY_SERIES.map((series) => [series, new Array<number>(hours).fill(0)]),
  ) as Record<ActivitySeries, number[]>;
  for (const bucket of buckets) {
    const index = Math.floor((Date.parse(bucket.hour) - start) / HOUR_MS);
    if (index < 0 || index >= hours) continue;
    for (const series of ACTIVITY_SERIES)
      perHour[series][index] = (perHour[series][index] ?? 0) + bucket[series];
  }
  const totals = Object.fromEntries(
    ACTIVITY_SERIES.map((series) => [series, perHour[series].reduce((sum, count) => sum + count, 0)]),
  ) as Record<ActivitySeries, number>;
  const peak = Math.max(1, ...ACTIVITY_SERIES.flatMap((series) => perHour[series]));
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (index: number) => PAD.left + (hours === 1 ? 0 : (index / (hours - 1)) * plotWidth);
  const y = (count: number) => PAD.top + plotHeight - (count / peak) * plotHeight;
  const days = Array.from({ length: Math.floor(hours / 24) + 1 }, (_, day) => day * 24).filter(
    (h) => h < hours,
  );
  const summary = ACTIVITY_SERIES.map((series) => `${totals[series]} ${series}`).join(', ');
  return html`<figure class="chart">
<figcaption>${caption}</figcaption>
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${caption}: ${summary}">
<line class="gridline" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(peak)}" y2="${y(peak)}"></line>
<text x="${PAD.left - 6}" y="${y(peak) + 4}" text-anchor="end">${peak}</text>
<text x="${PAD.left - 6}" y="${y(0) + 4}" text-anchor="end">0</text>
<line class="axis" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(0)}" y2="${y(0)}"></line>
${days.map(
  (hour) =>
    html`<text x="${x(hour)}" y="${HEIGHT - 6}" text-anchor="middle">${new Date(start + hour * HOUR_MS).toISOString().slice(5, 10)}</text>`,
)}
${ACTIVITY_SERIES.map(
  (series) =>
    html`<polyline class="series-${series}" points="${perHour[series].map((count, index) => `${x(index).toFixed(1)},${y(count).toFixed(1)}`).join(' ')}"></polyline>`,
)}
</svg>
<ul class="legend">${ACTIVITY_SERIES.map((series) => html`<li class="series-${series}">${series}</li>`)}</ul>
<table class="totals">
<caption class="visually-hidden">${caption}: totals</caption>
<thead><tr>${ACTIVITY_SERIES.map((series) => html`<th class="num" scope="col">${series}</th>`)}</tr></thead>
<tbody><tr>${ACTIVITY_SERIES.map((series) => html`<td class="num">${totals[series]}</td>`)}</tr></tbody>
</table>
</figure>`;
}
