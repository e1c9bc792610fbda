// The wallboard's text channels: per queue and channel (chat, SMS, email) the tasks waiting,
// the oldest one's wait (ticking), the mean first response over the last hour and the
// agents' capacity in use (tasks held of what the queue's available agents may hold). Fed
// by the outlook: the snapshot's and each `queue.outlook` event's per-queue `channels`.

import { duration, el, setAttr, setText } from "./dom.js";

const CHANNEL_LABELS = { chat: "Chat", sms: "SMS", email: "Email" };

export class ChannelPanel {
  constructor({ body, empty, clock, ticker }) {
    this.body = body;
    this.empty = empty;
    this.clock = clock;
    this.ticker = ticker;
    this.rows = new Map(); // "queue/channel" -> {tr, cells, view, at}
  }

  load(snapshot) {
    this.take(snapshot.outlook ?? [], Date.parse(snapshot.now));
  }

  update(board, at) {
    this.take(board?.queues ?? [], Date.parse(at ?? "") || this.clock.now());
  }

  take(views, at) {
    const seen = new Set();
    for (const view of views) {
      for (const channel of view.channels ?? []) {
        const key = `${view.name}/${channel.channel}`;
        seen.add(key);
        this.draw(key, view.name, channel, at);
      }
    }
    for (const [key, row] of this.rows) {
      if (seen.has(key)) continue;
      row.tr.remove();
      this.rows.delete(key);
      this.ticker.delete(`ch:${key}`);
    }
    this.empty.hidden = this.rows.size > 0;
  }

  row(key, queue, channel) {
    let row = this.rows.get(key);
    if (row) return row;
    const cells = {
      waiting: el("td", { class: "num big" }),
      oldest: el("td", { class: "num ticking" }),
      response: el("td", { class: "num" }),
      capacity: el("td", { class: "num" }),
    };
    const tr = el(
      "tr",
      { "data-channel": key },
      el("th", { scope: "row" }, queue),
      el("td", {}, CHANNEL_LABELS[channel] ?? channel),
      ...Object.values(cells),
    );
    row = { tr, cells, view: null, at: 0 };
    this.rows.set(key, row);
    const next = [...this.rows.keys()].filter((other) => other > key).sort()[0];
    this.body.insertBefore(tr, next ? this.rows.get(next).tr : null);
    this.ticker.set(`ch:${key}`, cells.oldest, () => {
      const view = row.view;
      if (!view || typeof view.oldest_wait_seconds !== "number") return "–";
      return duration(view.oldest_wait_seconds + (this.clock.now() - row.at) / 1000);
    });
    return row;
  }

  draw(key, queue, view, at) {
    const row = this.row(key, queue, view.channel);
    row.view = view;
    row.at = at;
    const { cells } = row;
    setText(cells.waiting, view.waiting);
    setAttr(cells.waiting, "data-alarm", view.waiting > 0 ? "yes" : null);
    this.ticker.refresh(`ch:${key}`);
    const response = view.first_response_seconds;
    setText(cells.response, typeof response === "number" ? duration(response) : "–");
    setText(cells.capacity, view.capacity ? `${view.held} of ${view.capacity}` : "none");
    const full = view.capacity > 0 && view.held >= view.capacity;
    setAttr(cells.capacity, "data-band", full ? "poor" : null);
  }
}
