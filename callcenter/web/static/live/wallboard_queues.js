// The wallboard's queue table: per queue the callers waiting, the longest wait (ticking),
// today's service level, answered and abandoned. One row per queue, kept in name order,
// redrawn only when an event touched the queue.

import { duration, el, setAttr, setText } from "./dom.js";

function serviceLevel(queue) {
  const today = queue.today;
  const offered = today ? (today.answered ?? 0) + (today.abandoned ?? 0) : 0;
  if (!offered) return { text: "–", band: "none" };
  const pct = Math.round((100 * (today.answered_in_sl ?? 0)) / offered);
  return { text: `${pct}%`, band: pct >= 80 ? "good" : pct >= 60 ? "fair" : "poor" };
}

export class QueueTable {
  /** `model`: the WallboardModel; `body`/`empty`: the table body and its "none" note. */
  constructor(model, { body, empty, clock, ticker }) {
    this.model = model;
    this.body = body;
    this.empty = empty;
    this.clock = clock;
    this.ticker = ticker;
    this.rows = new Map(); // name -> {tr, cells}
  }

  row(name) {
    let row = this.rows.get(name);
    if (row) return row;
    const cells = {
      waiting: el("td", { class: "num big" }),
      longest: el("td", { class: "num big ticking" }),
      sl: el("td", { class: "num" }),
      answered: el("td", { class: "num" }),
      abandoned: el("td", { class: "num" }),
    };
    const tr = el("tr", { "data-queue": name }, el("th", { scope: "row" }, name), ...Object.values(cells));
    row = { tr, cells };
    this.rows.set(name, row);
    const next = [...this.rows.keys()].filter((other) => other > name).sort()[0];
    this.body.insertBefore(tr, next ? this.rows.get(next).tr : null);
    this.ticker.set(`q:${name}`, cells.longest, () => {
      const oldest = this.model.oldestQueuedAt(name);
      return oldest === null ? "–" : duration((this.clock.now() - oldest) / 1000);
    });
    return row;
  }

  draw(name) {
    const queue = this.model.queues.get(name);
    if (!queue) {
      this.rows.get(name)?.tr.remove();
      this.rows.delete(name);
      this.ticker.delete(`q:${name}`);
      return;
    }
    const { cells } = this.row(name);
    const waiting = this.model.waiting(name);
    setText(cells.waiting, waiting);
    setAttr(cells.waiting, "data-alarm", waiting > 0 ? "yes" : null);
    this.ticker.refresh(`q:${name}`);
    const sl = serviceLevel(queue);
    const target = queue.service_level_seconds;
    setText(cells.sl, target ? `${sl.text} in ${target} s` : sl.text);
    setAttr(cells.sl, "data-band", sl.band);
    setText(cells.answered, queue.today?.answered ?? 0);
    setText(cells.abandoned, queue.today?.abandoned ?? 0);
    this.empty.hidden = this.model.queues.size > 0;
  }
}
