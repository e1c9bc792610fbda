// The wallboard's waits and staffing: per queue the estimated wait of a caller arriving
// now, callbacks waiting and the oldest one's wait (ticking), agents needed against
// staffed with the gap highlighted (in words too: "2 short"), and charts of the last hour
// of callers waiting, service level and staffing gap. Fed by the snapshot (`outlook`,
// `outlook_history`: the stored minute points) and `queue.outlook` events (each adds or
// replaces its minute's point; the server sends one only when a figure changed, so the
// page carries the last figures into each new minute itself).

import { chart, drawChart } from "./charts.js";
import { duration, el, setAttr, setText } from "./dom.js";

const MINUTE_MS = 60_000;
const SLOTS = 60; // minutes charted
const CARRY_EVERY_MS = 5_000;

function gapOf(view) {
  const gap = view.staffing_gap;
  if (typeof gap !== "number") return { text: "–", band: "none" };
  if (gap > 0) return { text: `${gap} short`, band: "poor" };
  if (gap < 0) return { text: `${-gap} spare`, band: "good" };
  return { text: "on target", band: "good" };
}

function percent(share) {
  return typeof share === "number" ? `${Math.round(100 * share)}%` : "–";
}

function describe(label, values, format) {
  const known = values.filter((value) => typeof value === "number");
  if (!known.length) return `${label}, last hour: no figures yet`;
  const now = values[values.length - 1];
  const peak = Math.max(...known);
  return `${label}, last hour: now ${typeof now === "number" ? format(now) : "–"}, highest ${format(peak)}`;
}

export class OutlookPanel {
  constructor({ body, empty, clock, ticker, batch }) {
    this.body = body;
    this.empty = empty;
    this.clock = clock;
    this.ticker = ticker;
    this.batch = batch;
    this.views = new Map(); // name -> view (+ at: ms of the reading)
    this.history = new Map(); // name -> Map(minute ms -> point)
    this.rows = new Map(); // name -> {tr, cells, charts}
    this.latest = 0; // the newest minute seen (ms)
    setInterval(() => this.carry(), CARRY_EVERY_MS);
  }

  /** A snapshot: its outlook now and the stored minute points of the last hour. */
  load(snapshot) {
    const gone = new Set(this.views.keys());
    this.views.clear();
    this.history.clear();
    for (const [name, points] of Object.entries(snapshot.outlook_history ?? {})) {
      const series = new Map();
      for (const point of points) series.set(Date.parse(point.minute), point);
      this.history.set(name, series);
    }
    this.take(snapshot.outlook ?? [], Date.parse(snapshot.now));
    for (const name of [...gone, ...this.views.keys()]) this.schedule(name);
  }

  /** A `queue.outlook` event: every queue's outlook at `at`. */
  update(board, at) {
    const gone = new Set(this.views.keys());
    const views = board?.queues ?? [];
    for (const view of views) gone.delete(view.name);
    for (const name of gone) {
      this.views.delete(name);
      this.history.delete(name);
    }
    this.take(views, Date.parse(at ?? "") || this.clock.now());
    for (const name of [...gone, ...views.map((view) => view.name)]) this.schedule(name);
  }

  take(views, at) {
    const minute = Math.floor(at / MINUTE_MS) * MINUTE_MS;
    this.latest = Math.max(this.latest, minute);
    for (const view of views) {
      this.views.set(view.name, { ...view, at });
      this.point(view, minute);
    }
  }

  /** Keep `view`'s figures as its point of `minute`, dropping points older than the chart. */
  point(view, minute) {
    const series = this.history.get(view.name) ?? new Map();
    series.set(minute, {
      waiting: view.calls_waiting,
      service_level: view.service_level,
      needed: view.agents_needed,
      staffed: view.agents_staffed,
      gap: view.staffing_gap,
    });
    for (const key of series.keys()) if (key <= this.latest - SLOTS * MINUTE_MS) series.delete(key);
    this.history.set(view.name, series);
  }

  /** A new minute without news: the figures stand, so they are that minute's point too. */
  carry() {
    const minute = Math.floor(this.clock.now() / MINUTE_MS) * MINUTE_MS;
    if (minute <= this.latest || !this.views.size) return;
    this.latest = minute;
    for (const view of this.views.values()) {
      this.point(view, minute);
      this.schedule(view.name);
    }
  }

  schedule(name) {
    this.batch.add(`o:${name}`, () => this.draw(name));
  }

  /** One field of a queue's last hour, a slot a minute, oldest first (null: no point). */
  series(name, field) {
    const points = this.history.get(name) ?? new Map();
    const first = this.latest - (SLOTS - 1) * MINUTE_MS;
    return Array.from({ length: SLOTS }, (_, i) => {
      const value = points.get(first + i * MINUTE_MS)?.[field];
      return typeof value === "number" ? value : null;
    });
  }

  row(name) {
    let row = this.rows.get(name);
    if (row) return row;
    const cells = {
      wait: el("td", { class: "num big" }),
      callbacks: el("td", { class: "num" }),
      oldest: el("td", { class: "num ticking" }),
      staffing: el("td", { class: "num" }),
      gap: el("td", { class: "num gap" }),
      ready: el("td", { class: "num" }),
      waiting: el("td", { class: "spark" }),
      level: el("td", { class: "spark" }),
      trend: el("td", { class: "spark" }),
    };
    const tr = el("tr", { "data-outlook": name }, el("th", { scope: "row" }, name), ...Object.values(cells));
    row = { tr, cells, charts: {} };
    for (const key of ["waiting", "level", "trend"]) row.charts[key] = cells[key].appendChild(chart(""));
    this.rows.set(name, row);
    const next = [...this.rows.keys()].filter((other) => other > name).sort()[0];
    this.body.insertBefore(tr, next ? this.rows.get(next).tr : null);
    this.ticker.set(`o:${name}`, cells.oldest, () => {
      const view = this.views.get(name);
      const waited = view?.oldest_callback_wait_seconds;
      return typeof waited === "number" ? duration(waited + (this.clock.now() - view.at) / 1000) : "–";
    });
    return row;
  }

  draw(name) {
    const view = this.views.get(name);
    if (!view) {
      this.rows.get(name)?.tr.remove();
      this.rows.delete(name);
      this.ticker.delete(`o:${name}`);
      this.empty.hidden = this.views.size > 0;
      return;
    }
    const { cells, charts } = this.row(name);
    const wait = view.estimated_wait_seconds;
    setText(cells.wait, typeof wait === "number" ? duration(wait) : "–");
    setAttr(cells.wait, "title", typeof wait === "number" ? null : "unknown: no agent staffed, or no call handled in the last hour");
    setText(cells.callbacks, view.callbacks_waiting);
    setAttr(cells.callbacks, "data-alarm", view.callbacks_waiting > 0 ? "yes" : null);
    this.ticker.refresh(`o:${name}`);
    setText(cells.staffing, `${view.agents_needed ?? "–"} / ${view.agents_staffed}`);
    const gap = gapOf(view);
    setText(cells.gap, gap.text);
    setAttr(cells.gap, "data-band", gap.band);
    setText(cells.ready, view.agents_ready);
    this.drawCharts(name, view, charts);
    this.empty.hidden = this.views.size > 0;
  }

  drawCharts(name, view, charts) {
    const waiting = this.series(name, "waiting");
    drawChart(charts.waiting, waiting, { max: Math.max(1, ...waiting.filter((v) => v !== null)) });
    setAttr(charts.waiting, "aria-label", describe("Callers waiting", waiting, String));
    const level = this.series(name, "service_level");
    drawChart(charts.level, level, { min: 0, max: 1, reference: view.service_level_target });
    setAttr(charts.level, "aria-label", `${describe("Service level", level, percent)}, target ${percent(view.service_level_target)}`);
    const gaps = this.series(name, "gap");
    const extent = Math.max(1, ...gaps.filter((v) => v !== null).map(Math.abs));
    drawChart(charts.trend, gaps, { kind: "bars", min: -extent, max: extent });
    setAttr(charts.trend, "aria-label", describe("Staffing gap (agents short)", gaps, String));
  }
}
