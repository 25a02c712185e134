// Charts of a run's rows: bar, line and scatter, drawn as SVG by Observable Plot, and
// downloadable as SVG or PNG. scripts/web.sh bundles this file into web/static/chart.js.

import * as Plot from '@observablehq/plot';

/** The most rows a chart draws: the first ones of the result. */
export const MAX_POINTS = 50_000;

/** Column types whose values are numbers, or times. */
const NUMBERS = new Set(['int64', 'float64', 'decimal']);
const TIMES = new Set(['timestamp', 'date']);

/** A cell as the chart reads it: numbers as numbers, times as dates. */
function reader(type) {
  if (NUMBERS.has(type)) return (v) => (v === null || v === undefined || v === '' ? null : Number(v));
  if (TIMES.has(type)) return (v) => (v === null || v === undefined ? null : new Date(v));
  return (v) => (v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : String(v));
}

/**
 * Draws `settings` (`{kind: 'bar'|'line'|'scatter', x, y, series}`, column names) of
 * `rows` (arrays of cells in `columns`' order) as an SVG element, or returns a sentence
 * saying why it cannot. A bar chart sums `y` by `x` (and series); a line joins the points
 * in `x` order; a scatter shows every point. `nonce` lets the chart's own styles in.
 */
export function drawChart({ columns, rows, settings, width = 760, nonce }) {
  const index = (name) => columns.findIndex((c) => c.name === name);
  const [xi, yi, si] = [index(settings.x), index(settings.y), settings.series ? index(settings.series) : -1];
  if (xi < 0 || yi < 0) return 'Choose the columns for x and y.';
  if (!NUMBERS.has(columns[yi].type) && settings.kind !== 'scatter') {
    return `y must be a number column for a ${settings.kind} chart; ${columns[yi].name} is ${columns[yi].type}.`;
  }
  const [readX, readY] = [reader(columns[xi].type), reader(columns[yi].type)];
  const readS = si >= 0 ? reader(columns[si].type) : () => null;
  const data = [];
  for (const row of rows.length > MAX_POINTS ? rows.slice(0, MAX_POINTS) : rows) {
    const point = { x: readX(row[xi]), y: readY(row[yi]), series: readS(row[si]) };
    if (point.x !== null && point.y !== null) data.push(point);
  }
  if (data.length === 0) return 'No rows with both an x and a y to draw.';
  const series = si >= 0 ? 'series' : undefined;
  const marks = {
    bar: () => [Plot.barY(data, Plot.groupX({ y: 'sum' }, { x: 'x', y: 'y', fill: series, tip: true })), Plot.ruleY([0])],
    line: () => [Plot.lineY(data, { x: 'x', y: 'y', stroke: series, sort: 'x', tip: true })],
    scatter: () => [Plot.dot(data, { x: 'x', y: 'y', stroke: series, r: 2, tip: true })],
  }[settings.kind];
  if (!marks) return `No ${settings.kind} chart: choose bar, line or scatter.`;
  const svg = Plot.plot({
    width,
    marginLeft: 60,
    marginBottom: 40,
    x: { label: columns[xi].name, ...(settings.kind === 'bar' ? { type: 'band', tickRotate: data.length > 12 ? -45 : 0 } : {}) },
    y: { label: columns[yi].name, grid: true },
    color: series ? { legend: true, label: columns[si].name } : undefined,
    marks: marks(),
  });
  // The chart's own <style> elements are let in by the page's nonce, set before they are
  // in the page.
  if (nonce) for (const style of svg.querySelectorAll('style')) style.setAttribute('nonce', nonce);
  return svg;
}

/** The chart's SVG element in a chart (a legend wraps it in a figure). */
function svgOf(chart) {
  return chart.tagName.toLowerCase() === 'svg' ? chart : chart.querySelector('svg');
}

/** A drawn chart as an SVG document's text. */
export function svgText(chart) {
  const svg = svgOf(chart).cloneNode(true);
  svg.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  return new XMLSerializer().serializeToString(svg);
}

/** A drawn chart as a PNG blob, drawn at twice its size on a white ground. */
export async function pngBlob(chart) {
  const svg = svgOf(chart);
  const { width, height } = svg.getBoundingClientRect();
  const image = new Image();
  const url = URL.createObjectURL(new Blob([svgText(chart)], { type: 'image/svg+xml' }));
  try {
    image.src = url;
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = Math.ceil(width * 2);
    canvas.height = Math.ceil(height * 2);
    const context = canvas.getContext('2d');
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(image, 0, 0, canvas.width, canvas.height);
    return await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  } finally {
    URL.revokeObjectURL(url);
  }
}
