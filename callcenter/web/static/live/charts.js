// Small charts the wallboard draws itself (inline SVG, no library, works offline): a minute
// series as a line (broken where a minute is missing) or as bars above and below zero,
// with an optional dashed reference line (a target). The caller gives the SVG an
// accessible name: the chart repeats what the figures beside it say.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 120;
const HEIGHT = 32;
const PAD = 2;

function svgEl(tag, attrs) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/** An empty chart: an <svg role="img"> with a fixed viewBox that scales with its cell. */
export function chart(label) {
  return svgEl("svg", {
    class: "chart",
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": label,
  });
}

function scale(min, max) {
  const span = max - min || 1;
  return (value) => HEIGHT - PAD - ((Math.min(max, Math.max(min, value)) - min) / span) * (HEIGHT - 2 * PAD);
}

function xOf(index, slots) {
  return PAD + (slots > 1 ? (index * (WIDTH - 2 * PAD)) / (slots - 1) : 0);
}

function linePath(values, y) {
  let d = "";
  let pen = false;
  values.forEach((value, i) => {
    if (typeof value !== "number") {
      pen = false;
      return;
    }
    const x = xOf(i, values.length).toFixed(1);
    // a lone point still shows: a zero-length segment with round caps
    d += pen ? ` L${x} ${y(value).toFixed(1)}` : ` M${x} ${y(value).toFixed(1)} l0.01 0`;
    pen = true;
  });
  return d.trim();
}

function bars(svg, values, y) {
  const zero = y(0);
  const width = Math.max(1, (WIDTH - 2 * PAD) / values.length - 0.4);
  values.forEach((value, i) => {
    if (typeof value !== "number" || value === 0) return;
    const top = Math.min(zero, y(value));
    svg.append(svgEl("rect", {
      class: value > 0 ? "over" : "under",
      x: (xOf(i, values.length) - width / 2).toFixed(1),
      y: top.toFixed(1),
      width: width.toFixed(1),
      height: Math.max(0.8, Math.abs(zero - y(value))).toFixed(1),
    }));
  });
  svg.append(svgEl("line", { class: "zero", x1: 0, x2: WIDTH, y1: zero, y2: zero }));
}

/**
 * Draw `values` (oldest first, one per slot; null where nothing is known) into `svg`,
 * replacing what it showed. `kind` "line" or "bars" (bars go up for positive values);
 * `min`/`max` the value range (values outside are clipped); `reference` a dashed line.
 */
export function drawChart(svg, values, { kind = "line", min = 0, max = 1, reference = null } = {}) {
  svg.replaceChildren();
  const y = scale(min, max);
  if (typeof reference === "number") {
    svg.append(svgEl("line", { class: "reference", x1: 0, x2: WIDTH, y1: y(reference), y2: y(reference) }));
  }
  if (kind === "bars") bars(svg, values, y);
  else svg.append(svgEl("path", { class: "line", d: linePath(values, y) }));
  svg.setAttribute("data-points", String(values.filter((value) => typeof value === "number").length));
}
