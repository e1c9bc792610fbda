// The wallboard's alerts feed: newest first, each with its severity in words, the reason,
// where it happened, a button to open the call and one to acknowledge it (over the
// socket; everybody's feed then shows who acknowledged it).

import { clockTime, el, setAttr, setText } from "./dom.js";

const ACK_WAIT_MS = 5_000;

export class AlertFeed {
  /**
   * `model`: the WallboardModel (its `alerts` and `agents`). `parts`: the feed list, the
   * open-count and empty-message elements; `send(message)` (false when not connected),
   * `open(callId, opener)` to open a call's transcript, `notSent()` to say an ack failed.
   */
  constructor(model, parts) {
    this.model = model;
    this.parts = parts;
    this.rows = new Map();
  }

  row(alert) {
    const ack = el("button", { type: "button", class: "ack", "aria-label": `Acknowledge alert: ${alert.reason}` }, "Acknowledge");
    ack.addEventListener("click", () => this.acknowledge(alert.id, ack));
    const caller = alert.caller ?? alert.call_id;
    const open = el("button", { type: "button", class: "link", "aria-label": `Open transcript of call ${caller}` }, "Open call");
    open.addEventListener("click", () => this.parts.open(alert.call_id, open));
    const state = el("span", { class: "ack-state" });
    const agent = alert.agent_id && `agent ${this.model.agents.get(alert.agent_id)?.name ?? alert.agent_id}`;
    const where = [alert.queue, alert.caller, agent].filter(Boolean).join(" · ");
    const li = el("li", { class: "alert", "data-alert": alert.id, "data-severity": alert.severity, tabindex: "-1" },
      el("p", { class: "alert-head" },
        el("span", { class: "severity" }, String(alert.severity ?? "").toUpperCase()),
        " ", el("time", { datetime: alert.at }, clockTime(alert.at)),
        " ", el("span", { class: "rule" }, alert.rule)),
      el("p", { class: "reason" }, alert.reason),
      el("p", { class: "where" }, where),
      el("p", { class: "alert-actions" }, open, " ", ack, state));
    return { li, ack, state };
  }

  /** Add, update or drop the item of one alert. */
  draw(id) {
    const alert = this.model.alerts.get(id);
    let row = this.rows.get(id);
    if (!alert) {
      row?.li.remove();
      this.rows.delete(id);
      return;
    }
    if (!row) {
      row = this.row(alert);
      this.rows.set(id, row);
      // newest first: before the first item that is not newer than this one
      const at = Date.parse(alert.at);
      let before = this.parts.feed.firstElementChild;
      while (before && Date.parse(this.model.alerts.get(before.dataset.alert)?.at) > at) before = before.nextElementSibling;
      this.parts.feed.insertBefore(row.li, before);
    }
    setAttr(row.li, "data-acked", alert.acked ? "yes" : "no");
    if (alert.acked && row.ack.isConnected) {
      const hadFocus = document.activeElement === row.ack;
      row.ack.remove();
      if (hadFocus) row.li.focus({ preventScroll: true }); // keep the keyboard user's place
    }
    if (alert.acked) {
      const by = alert.acked_by ? ` by ${alert.acked_by}` : "";
      setText(row.state, `Acknowledged${by}${alert.acked_at ? ` at ${clockTime(alert.acked_at)}` : ""}`);
    }
  }

  drawCounts() {
    let open = 0;
    for (const alert of this.model.alerts.values()) if (!alert.acked) open += 1;
    setText(this.parts.openCount, open ? `(${open} open)` : "");
    this.parts.empty.hidden = this.model.alerts.size > 0;
  }

  acknowledge(id, button) {
    if (button.getAttribute("aria-disabled") === "true") return;
    if (!this.parts.send({ type: "ack", alert_id: id })) {
      this.parts.notSent();
      return;
    }
    button.setAttribute("aria-disabled", "true");
    button.textContent = "Acknowledging…";
    // no alert.acked back (the server refused, or the socket dropped): let them try again
    setTimeout(() => {
      if (this.model.alerts.get(id)?.acked || !button.isConnected) return;
      button.removeAttribute("aria-disabled");
      button.textContent = "Acknowledge";
    }, ACK_WAIT_MS);
  }
}
