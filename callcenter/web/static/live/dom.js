// Shared by the live pages: building elements, batching DOM writes into one animation
// frame, a once-a-second ticker for elapsed times, and the formats both pages show
// (durations, signed moods with a trend arrow, sentiment labels).
// Server text only ever reaches the page as text nodes (never innerHTML).

/** Create an element: attributes via setAttribute, children as nodes or plain text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(typeof child === "object" ? child : String(child));
    }
  }
  return node;
}

/** Set a node's text only when it changed (no layout work for the common "same" case). */
export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

/** Set (or remove, for null) an attribute only when it changed. */
export function setAttr(node, name, value) {
  if (value === null || value === undefined) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
  } else if (node.getAttribute(name) !== String(value)) {
    node.setAttribute(name, String(value));
  }
}

/**
 * Keyed DOM work, run once per animation frame: scheduling the same key twice before the
 * frame runs the latest job only, so a burst of events for one row renders it once.
 * `late` jobs run after the others (e.g. ordering rows the same frame created).
 */
export class FrameBatch {
  constructor() {
    this.jobs = new Map();
    this.lateJobs = new Map();
    this.pending = false;
  }

  add(key, job) {
    this.jobs.set(key, job);
    this.request();
  }

  late(key, job) {
    this.lateJobs.set(key, job);
    this.request();
  }

  request() {
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  flush() {
    this.pending = false;
    const jobs = [...this.jobs.values(), ...this.lateJobs.values()];
    this.jobs.clear();
    this.lateJobs.clear();
    for (const job of jobs) job();
  }
}

/**
 * The server's clock as seen from here. Each server time received (a snapshot's `now`, an
 * event's `at`) was read on the server before it arrived, so `server - local` undershoots
 * the true offset by the message's latency: keep the largest such sample (a snapshot
 * starts over, in case the server's clock was stepped back).
 */
export class ServerClock {
  constructor() {
    this.offsetMs = 0;
  }

  /** A snapshot's `now`: start over from it. */
  sync(iso) {
    const server = Date.parse(iso ?? "");
    if (!Number.isNaN(server)) this.offsetMs = server - Date.now();
  }

  /** An event's `at`: a later reading can only narrow the offset. */
  observe(iso) {
    const server = Date.parse(iso ?? "");
    if (!Number.isNaN(server)) this.offsetMs = Math.max(this.offsetMs, server - Date.now());
  }

  now() {
    return Date.now() + this.offsetMs;
  }

  /** Whole seconds since an ISO time (0 if it is missing or in the future). */
  since(iso) {
    const then = Date.parse(iso ?? "");
    return Number.isNaN(then) ? 0 : Math.max(0, Math.floor((this.now() - then) / 1000));
  }

  /** Whole seconds until an ISO time (0 once it has passed). */
  until(iso) {
    const then = Date.parse(iso ?? "");
    return Number.isNaN(then) ? 0 : Math.max(0, Math.ceil((then - this.now()) / 1000));
  }
}

/**
 * Elapsed-time cells that tick every second. Each cell is registered under a key with a
 * function giving its text; only cells whose text changed are written. It checks four
 * times a second so a displayed second is never more than a quarter second late.
 */
export class Ticker {
  constructor(periodMs = 250) {
    this.cells = new Map();
    this.timer = setInterval(() => this.tick(), periodMs);
  }

  set(key, node, text) {
    this.cells.set(key, { node, text });
    setText(node, text());
  }

  delete(key) {
    this.cells.delete(key);
  }

  /** Redraw one cell now (its inputs changed between ticks). */
  refresh(key) {
    const cell = this.cells.get(key);
    if (cell) setText(cell.node, cell.text());
  }

  tick() {
    for (const { node, text } of this.cells.values()) setText(node, text());
  }
}

/** "0:07", "12:34", "1:02:03". */
export function duration(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A score -1..1 as a signed number, e.g. "+0.42", "−0.30" (a real minus sign). */
export function signed(score, digits = 2) {
  if (typeof score !== "number" || Number.isNaN(score)) return "–";
  const text = Math.abs(score).toFixed(digits);
  if (Number(text) === 0) return `±${text}`;
  return (score > 0 ? "+" : "−") + text;
}

/** The colour band of a score, named: used as data-mood for the CSS colours. */
export function moodBand(score) {
  if (typeof score !== "number") return "none";
  if (score <= -0.5) return "very-negative";
  if (score <= -0.15) return "negative";
  if (score < 0.15) return "neutral";
  if (score < 0.5) return "positive";
  return "very-positive";
}

const TRENDS = [
  [0.1, "↑", "improving"],
  [-0.1, "→", "steady"],
  [-Infinity, "↓", "worsening"],
];

/** A trend (end minus start) as an arrow and a word. */
export function trendOf(trend) {
  if (typeof trend !== "number") return { arrow: "", word: "" };
  const [, arrow, word] = TRENDS.find(([floor]) => trend >= floor);
  return { arrow, word };
}

/**
 * Render a mood ({score, trend, utterances} or null) into a cell: signed number, arrow,
 * and the band as data-mood (colour is never the only signal: the number and the arrow
 * say the same thing, and the cell's label spells it out).
 */
export function renderMood(cell, mood, who = "mood") {
  const score = mood ? mood.score : null;
  const { arrow, word } = trendOf(mood ? mood.trend : null);
  setAttr(cell, "data-mood", moodBand(score));
  setText(cell, mood ? `${signed(score)} ${arrow}` : "–");
  setAttr(cell, "title", mood ? `${who} ${signed(score)}, ${word}` : `${who}: no speech yet`);
}

/** A short local time for an ISO timestamp ("14:03:27"), or "–". */
export function clockTime(iso) {
  const at = Date.parse(iso ?? "");
  if (Number.isNaN(at)) return "–";
  return new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** A local date and time for an ISO timestamp, or "–". */
export function dateTime(iso) {
  const at = Date.parse(iso ?? "");
  if (Number.isNaN(at)) return "–";
  return new Date(at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/** Say something through an aria-live region (cleared first so a repeat is announced). */
export function announce(region, text) {
  region.textContent = "";
  // a separate task, so screen readers see a change even for the same words
  setTimeout(() => { region.textContent = text; }, 30);
}
