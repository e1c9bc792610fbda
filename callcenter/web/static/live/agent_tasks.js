// The agent's conversations: the chats, SMS and emails it holds, several at a time. A list
// (channel, customer, state, unread count; offers with Accept / Reject) and one open
// conversation: why it came to this agent (also after a reload), its messages (the
// customer's with their sentiment), a reply box (Enter sends; SMS and email go out through
// their channel, and a refusal keeps the text) and resolve with a disposition and notes. A text offer never takes over the screen: it waits
// in the list. Everything a customer wrote is text (never markup).

import { renderContacts } from "./contacts.js";
import { renderDecision } from "./decision.js";
import { el, setText } from "./dom.js";

export const TEXT_CHANNELS = new Set(["chat", "sms", "email"]);
const LABEL = { chat: "Chat", sms: "SMS", email: "Email" };
const STATE = { offered: "Offered", connected: "Open", queued: "Waiting", ended: "Closed" };
const TYPING_SHOWN_MS = 3000; // the customer's typing is announced at most once a second

/** The scorer's call on a message, with its score unless neutral. */
function sentimentText(message) {
  const score = message.sentiment;
  if (typeof score !== "number") return "";
  const label = message.sentiment_label ?? (score <= -0.05 ? "negative" : score >= 0.05 ? "positive" : "neutral");
  return label === "neutral" ? label : `${label} ${score.toFixed(2)}`;
}

export class TaskDesk {
  constructor({ session, list, pane, announce, status }) {
    this.session = session;
    this.list = list;
    this.pane = pane;
    this.announce = announce;
    this.status = status;
    this.tasks = new Map(); // id -> {task, messages, unread, offer}
    this.open = null;
    pane.querySelector("form.reply").addEventListener("submit", (event) => {
      event.preventDefault();
      this.reply();
    });
    pane.querySelector("form.reply textarea").addEventListener("input", () => this.typing());
    pane.querySelector("form.reply textarea").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault(); // Enter sends, Shift+Enter starts a new line
        this.reply();
      }
    });
    pane.querySelector("form.resolve").addEventListener("submit", (event) => {
      event.preventDefault();
      this.resolve();
    });
  }

  /** The agent's document says which tasks it holds: load new ones, drop the rest. */
  async sync(held) {
    const ids = Object.keys(held ?? {});
    for (const id of [...this.tasks.keys()]) if (!ids.includes(id)) this.forget(id);
    await Promise.all(ids.filter((id) => !this.tasks.has(id)).map((id) => this.load(id)));
    this.draw();
  }

  async load(id) {
    try {
      const view = await this.session.api("GET", `/v1/tasks/${encodeURIComponent(id)}`);
      const known = this.tasks.get(id);
      const task = view.task;
      // an offer pending when the page (re)loaded: its reservation is on the task
      const pending = task.state === "offered" && task.reservation ? { call: task, reservation: task.reservation, decision: view.decision } : null;
      this.tasks.set(id, { offer: known?.offer ?? pending, unread: known?.unread ?? 0, ...view });
    } catch (error) {
      // gone meanwhile (resolved, or taken back from this agent): nothing to show
      if (error.status === 403 || error.status === 404) this.forget(id);
      else this.status(`Conversation ${id} not loaded: ${error.message}`);
    }
  }

  forget(id) {
    this.tasks.delete(id);
    if (this.open === id) this.open = null;
  }

  offered(offer) {
    const id = offer.call.id;
    const entry = this.tasks.get(id) ?? { task: offer.call, messages: [], unread: 0 };
    this.tasks.set(id, { ...entry, offer, task: { ...entry.task, ...offer.call } });
    const who = offer.caller?.profile?.name || offer.call.from || "a customer";
    this.announce(`New ${LABEL[offer.call.channel] ?? offer.call.channel} from ${who}. It waits in your conversations.`);
    this.load(id).then(() => this.draw());
    this.draw();
  }

  updated(call) {
    const entry = this.tasks.get(call.id);
    if (!entry) return;
    entry.task = { ...entry.task, ...call };
    if (call.state !== "offered") entry.offer = null;
    if (call.state === "ended") this.forget(call.id);
    this.draw();
  }

  message(taskId, message) {
    const entry = this.tasks.get(taskId);
    if (!entry || entry.messages.some((m) => m.id === message.id)) return;
    entry.messages.push(message);
    if (message.author === "customer") entry.typingUntil = 0;
    if (this.open !== taskId && message.author === "customer") entry.unread += 1;
    this.draw();
  }

  /** The customer of a chat is typing: the open conversation says so for a few seconds. */
  customerTyping(taskId) {
    const entry = this.tasks.get(taskId);
    if (!entry) return;
    entry.typingUntil = Date.now() + TYPING_SHOWN_MS;
    if (this.open === taskId) this.drawPane();
    setTimeout(() => { if (this.open === taskId) this.drawPane(); }, TYPING_SHOWN_MS + 50);
  }

  async answer(id, accepted) {
    const entry = this.tasks.get(id);
    if (!entry?.offer) return;
    const verb = accepted ? "accept" : "reject";
    try {
      await this.session.api("POST", `/v1/reservations/${encodeURIComponent(entry.offer.reservation.id)}/${verb}`);
      entry.offer = null;
      if (accepted) this.show(id);
      else this.forget(id);
      this.draw();
    } catch (error) {
      this.status(error.message);
    }
  }

  show(id) {
    this.open = id;
    const entry = this.tasks.get(id);
    if (entry) entry.unread = 0;
    this.draw();
    if (entry && entry.caller === undefined) this.loadCaller(id, entry);
  }

  /** The customer's record across channels, for the open conversation. */
  async loadCaller(id, entry) {
    const key = entry.task?.caller_key;
    entry.caller = null;
    if (!key) return;
    try {
      entry.caller = await this.session.api("GET", `/v1/callers/${encodeURIComponent(key)}`);
    } catch {
      entry.caller = null; // a first contact: nothing known yet
    }
    if (this.open === id) this.drawPane();
  }

  /** Tell the customer the agent is typing (a chat only; at most every 2 s from here). */
  typing() {
    const entry = this.open ? this.tasks.get(this.open) : null;
    const now = Date.now();
    if (!entry || entry.task?.channel !== "chat" || now - (this.typedAt ?? 0) < 2000) return;
    this.typedAt = now;
    this.session.api("POST", `/v1/tasks/${encodeURIComponent(this.open)}/typing`).catch(() => {});
  }

  async reply() {
    const box = this.pane.querySelector("form.reply textarea");
    const body = box.value.trim();
    if (!this.open || !body) return;
    const id = this.open;
    try {
      const message = await this.session.api("POST", `/v1/tasks/${encodeURIComponent(id)}/messages`, { body });
      box.value = "";
      this.message(id, message);
    } catch (error) {
      this.status(`Not sent: ${error.message}`); // the text stays in the box
    }
  }

  async resolve() {
    if (!this.open) return;
    const id = this.open;
    const form = this.pane.querySelector("form.resolve");
    const disposition = form.querySelector("input").value.trim() || null;
    const notes = form.querySelector("textarea").value.trim() || null;
    try {
      await this.session.api("POST", `/v1/tasks/${encodeURIComponent(id)}/resolve`, { disposition, notes });
      form.reset();
      this.forget(id);
      this.status("Conversation resolved.", "ok");
      this.draw();
    } catch (error) {
      this.status(error.message);
    }
  }

  draw() {
    this.list.replaceChildren(...[...this.tasks.entries()].map(([id, entry]) => this.item(id, entry)));
    this.list.closest("section").hidden = this.tasks.size === 0;
    this.drawPane();
  }

  item(id, entry) {
    const task = entry.task ?? {};
    const who = task.attributes?.name || task.from || id;
    const state = entry.offer ? "Offered" : STATE[task.state] ?? task.state;
    const open = el("button", { type: "button", class: "task-open", "aria-current": this.open === id ? "true" : null },
      `${LABEL[task.channel] ?? task.channel} · ${who} · ${state}`,
      entry.unread ? el("span", { class: "count" }, ` (${entry.unread} new)`) : null);
    open.addEventListener("click", () => this.show(id));
    const actions = [];
    if (entry.offer) {
      const yes = el("button", { type: "button", class: "primary" }, "Accept");
      yes.addEventListener("click", () => this.answer(id, true));
      const no = el("button", { type: "button", class: "danger" }, "Reject");
      no.addEventListener("click", () => this.answer(id, false));
      actions.push(yes, no);
    }
    return el("li", { "data-task": id }, open, ...actions);
  }

  drawPane() {
    const entry = this.open ? this.tasks.get(this.open) : null;
    this.pane.hidden = !entry;
    if (!entry) return;
    const task = entry.task ?? {};
    setText(this.pane.querySelector("h3"), `${LABEL[task.channel] ?? ""} with ${task.attributes?.name || task.from || ""}${task.conversation?.subject ? ` · ${task.conversation.subject}` : ""}`);
    const lines = entry.messages.map((m) =>
      el("li", { class: "message", "data-author": m.author },
        el("span", { class: "speaker" }, m.author === "customer" ? "Customer: " : "You: "),
        el("span", { class: "text" }, m.body),
        m.author === "customer" && typeof m.sentiment === "number" ? el("span", { class: "sentiment" }, ` (${sentimentText(m)})`) : null));
    renderContacts(this.pane.querySelector(".customer"), entry.caller);
    const routing = this.pane.querySelector(".routing");
    renderDecision(routing.querySelector(".why"), routing.querySelector("dl"), entry.offer?.decision ?? entry.decision ?? null);
    if (this.explained !== this.open) routing.open = Boolean(entry.offer); // the details while deciding
    this.explained = this.open;
    const log = this.pane.querySelector("ol.messages");
    log.replaceChildren(...lines);
    log.scrollTop = log.scrollHeight;
    setText(this.pane.querySelector(".typing"), (entry.typingUntil ?? 0) > Date.now() ? "The customer is typing…" : "");
    const working = task.state === "connected" && !entry.offer;
    for (const control of this.pane.querySelectorAll("form button, form textarea, form input")) control.disabled = !working;
  }
}
