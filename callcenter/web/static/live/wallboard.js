// The wallboard (/wallboard, supervisor token): queues (wallboard_queues.js), their waits
// and staffing (wallboard_outlook.js), agents, live calls with their moods, alerts with
// acknowledge, and one call's live transcript. Rows are keyed by id
// and redrawn only when an event touched them, at most once per animation frame; the
// elapsed times tick once a second without redrawing anything else.

import { FrameBatch, ServerClock, Ticker, announce, duration, el, renderMood, setAttr, setText } from "./dom.js";
import { Session, tokenForm } from "./session.js";
import { LiveSocket } from "./socket.js";
import { TranscriptView } from "./transcript.js";
import { AlertFeed } from "./wallboard_alerts.js";
import { TEXT_CHANNELS, WallboardModel, touched } from "./wallboard_model.js";
import { OutlookPanel } from "./wallboard_outlook.js";
import { ChannelPanel } from "./wallboard_channels.js";
import { conversationLines, messageLine } from "./wallboard_conversation.js";
import { QueueTable } from "./wallboard_queues.js";

const $ = (id) => document.getElementById(id);
const LABELS = {
  available: "Available", away: "Away", break: "Break", offline: "Offline",
  idle: "Idle", reserved: "Ringing", on_call: "On call", wrap_up: "Wrap-up",
  created: "New", queued: "Waiting", offered: "Ringing", connected: "Talking", ended: "Ended",
};
const label = (value) => LABELS[value] ?? String(value ?? "–");
const CHANNELS = { chat: "chat", sms: "SMS", email: "email" };
// "2 chats, 1 email": the text tasks an agent holds besides (or instead of) a call
const heldTasks = (agent) => {
  const counts = {};
  for (const channel of Object.values(agent.tasks ?? {})) counts[channel] = (counts[channel] ?? 0) + 1;
  const parts = Object.entries(counts).map(([channel, n]) => `${n} ${CHANNELS[channel] ?? channel}${n > 1 ? "s" : ""}`);
  return parts.length ? parts.join(", ") : "–";
};
// a callback waits without the customer on the line, then the agent calls them; a chat,
// SMS or email is named by its channel
const callState = (call) => {
  if (CHANNELS[call.channel]) {
    const state = call.state === "connected" ? "In progress" : label(call.state);
    return `${state} · ${CHANNELS[call.channel]}`;
  }
  if (!call.callback) return label(call.state);
  if (call.state === "connected" && call.callback.dial) return "Calling back";
  return `${label(call.state)} · callback`;
};

const session = new Session("wallboard");
const model = new WallboardModel();
const clock = new ServerClock();
const batch = new FrameBatch();
const ticker = new Ticker();
const rows = { agents: new Map(), calls: new Map() };
const queues = new QueueTable(model, { body: $("queue-rows"), empty: $("queues-empty"), clock, ticker });
const outlook = new OutlookPanel({ body: $("outlook-rows"), empty: $("outlook-empty"), clock, ticker, batch });
const channels = new ChannelPanel({ body: $("channel-rows"), empty: $("channels-empty"), clock, ticker });
const transcript = new TranscriptView($("transcript-lines"), $("transcript-partials"));
const ORDER_EVERY_MS = 500;
let lastOrder = 0;
let orderTimer = null;
let watching = null; // the call whose transcript is open
let earlyLines = null; // lines of the watched call received before its transcript
let returnFocus = null;

// --- agents -------------------------------------------------------------------------------

function agentRow(id) {
  let row = rows.agents.get(id);
  if (row) return row;
  const cells = {
    name: el("th", { scope: "row" }),
    presence: el("td", { class: "presence" }),
    activity: el("td", { class: "activity" }),
    since: el("td", { class: "num ticking" }),
    call: el("td", { class: "call" }),
    mood: el("td", { class: "num mood" }),
  };
  row = { tr: el("tr", { "data-agent": id }, ...Object.values(cells)), cells, sortKey: "" };
  rows.agents.set(id, row);
  return row;
}

function placeAgent(row, sortKey) {
  if (row.tr.isConnected && row.sortKey === sortKey) return;
  row.sortKey = sortKey;
  const body = $("agent-rows");
  let next = null;
  for (const other of rows.agents.values()) {
    if (other !== row && other.tr.isConnected && other.sortKey > sortKey && (!next || other.sortKey < next.sortKey)) {
      next = other;
    }
  }
  body.insertBefore(row.tr, next ? next.tr : null);
}

function drawAgent(id) {
  const agent = model.agents.get(id);
  if (!agent) {
    rows.agents.get(id)?.tr.remove();
    rows.agents.delete(id);
    ticker.delete(`a:${id}`);
    return;
  }
  const row = agentRow(id);
  const { cells } = row;
  setText(cells.name, agent.name || id);
  setText(cells.presence, label(agent.presence));
  setAttr(row.tr, "data-presence", agent.presence);
  setAttr(row.tr, "data-activity", agent.activity);
  setText(cells.activity, agent.presence === "offline" && agent.activity === "idle" ? "–" : label(agent.activity));
  const since = agent.activity === "idle" ? agent.presence_since : agent.activity_since;
  ticker.set(`a:${id}`, cells.since, () => duration(clock.since(since)));
  const call = agent.call_id ? model.calls.get(agent.call_id) : null;
  setText(cells.call, agent.call_id ? (call?.from ?? call?.caller_key ?? agent.call_id) : heldTasks(agent));
  renderMood(cells.mood, agent.call_id ? model.moods.get(agent.call_id)?.caller : null, "caller mood");
  placeAgent(row, `${(agent.name || id).toLowerCase()}\u0000${id}`);
}

// --- calls --------------------------------------------------------------------------------

function callSince(call) {
  if (call.state === "connected" || call.state === "wrap_up") return call.answered_at ?? call.created_at;
  return call.queued_at ?? call.created_at;
}

function callRow(id) {
  let row = rows.calls.get(id);
  if (row) return row;
  const cells = {
    caller: el("th", { scope: "row" }),
    queue: el("td"),
    state: el("td", { class: "state" }),
    agent: el("td"),
    time: el("td", { class: "num ticking" }),
    callerMood: el("td", { class: "num mood" }),
    agentMood: el("td", { class: "num mood" }),
  };
  const tr = el("tr", { "data-call": id, tabindex: "0", "aria-describedby": "calls-hint" }, ...Object.values(cells));
  tr.addEventListener("click", () => openTranscript(id, tr));
  tr.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      openTranscript(id, tr);
    }
  });
  row = { tr, cells };
  rows.calls.set(id, row);
  return row;
}

function drawCall(id) {
  const call = model.calls.get(id);
  if (!call) {
    rows.calls.get(id)?.tr.remove();
    rows.calls.delete(id);
    ticker.delete(`c:${id}`);
    if (id === watching) setText($("transcript-meta"), "This call has ended.");
    return;
  }
  const { tr, cells } = callRow(id);
  if (!tr.isConnected) $("call-rows").append(tr);
  setText(cells.caller, call.from ?? call.caller_key ?? call.id);
  setText(cells.queue, call.queue ?? "–");
  setText(cells.state, call.priority ? `${callState(call)} · P${call.priority}` : callState(call));
  setAttr(tr, "data-state", call.state);
  const agent = call.agent_id ? model.agents.get(call.agent_id) : null;
  setText(cells.agent, call.agent_id ? (agent?.name || call.agent_id) : "–");
  const since = callSince(call);
  ticker.set(`c:${id}`, cells.time, () => duration(clock.since(since)));
  const moods = model.moods.get(id);
  renderMood(cells.callerMood, moods?.caller, "caller mood");
  renderMood(cells.agentMood, moods?.agent, "agent mood");
  setAttr(tr, "aria-label", `Call from ${call.from ?? call.caller_key ?? call.id}, ${call.queue}, ${callState(call)}`);
  if (id === watching) drawTranscriptHead();
}

/**
 * Re-sort the call rows at most every ORDER_EVERY_MS: moods change all the time, and rows
 * that jump several times a second can be neither read from across a room nor navigated.
 * New rows show at once (at the end) and take their place at the next sort.
 */
function requestOrder() {
  if (orderTimer !== null) return;
  const wait = Math.max(0, lastOrder + ORDER_EVERY_MS - performance.now());
  orderTimer = setTimeout(() => {
    orderTimer = null;
    batch.late("order", orderCalls);
  }, wait);
}

/** Put the call rows in the chosen order, moving only rows that are out of place. */
function orderCalls() {
  lastOrder = performance.now();
  const body = $("call-rows");
  const focused = document.activeElement;
  const ids = model.order($("call-sort").value);
  let cursor = body.firstElementChild;
  for (const id of ids) {
    const row = rows.calls.get(id);
    if (!row) continue;
    if (row.tr === cursor) {
      cursor = cursor.nextElementSibling;
    } else {
      body.insertBefore(row.tr, cursor);
    }
  }
  if (focused && focused !== document.activeElement && focused.isConnected) focused.focus({ preventScroll: true });
}

function drawTotals() {
  const totals = model.totals();
  setText($("total-available"), totals.available);
  setText($("total-busy"), totals.busy);
  setText($("total-away"), totals.away);
  setText($("total-waiting"), totals.waiting);
  setText($("calls-count"), model.calls.size ? `(${model.calls.size})` : "");
  $("calls-empty").hidden = model.calls.size > 0;
  setText($("agents-count"), model.agents.size ? `(${model.agents.size})` : "");
  $("agents-empty").hidden = model.agents.size > 0;
}

// --- transcript panel ---------------------------------------------------------------------

function drawTranscriptHead() {
  const call = model.calls.get(watching);
  const agent = call?.agent_id ? model.agents.get(call.agent_id)?.name ?? call.agent_id : null;
  const text = TEXT_CHANNELS.has(call?.channel);
  const who = call?.from ?? call?.caller_key ?? watching;
  setText($("transcript-heading"), `${text ? `${CHANNELS[call.channel]} conversation` : "Live transcript"}: ${who}`);
  if (call) setText($("transcript-meta"), [call.queue, callState(call), agent && `agent ${agent}`].filter(Boolean).join(" · "));
  const moods = model.moods.get(watching);
  renderMood($("transcript-caller-mood"), moods?.caller, "caller mood");
  renderMood($("transcript-agent-mood"), moods?.agent, "agent mood");
}

// a conversation's messages so far (the bus brings the next ones as `task.message`)
async function loadConversation(taskId) {
  try {
    const lines = await conversationLines(session, taskId);
    if (watching !== taskId) return;
    transcript.reset(lines);
    for (const line of earlyLines ?? []) transcript.add(line);
    earlyLines = null;
  } catch (error) {
    if (watching === taskId) setText($("transcript-meta"), `Conversation not loaded: ${error.message}`);
  }
}

function openTranscript(callId, opener) {
  returnFocus = opener;
  if (watching !== callId) {
    watching = callId;
    transcript.clear();
    earlyLines = [];
    socket.send({ type: "watch", call_id: callId });
    if (TEXT_CHANNELS.has(model.calls.get(callId)?.channel)) loadConversation(callId);
  }
  $("transcript-panel").hidden = false;
  setText($("transcript-meta"), "");
  drawTranscriptHead();
  $("transcript-heading").focus();
}

function closeTranscript() {
  socket.send({ type: "watch", call_id: null });
  watching = null;
  transcript.clear();
  $("transcript-panel").hidden = true;
  const back = returnFocus?.isConnected ? returnFocus : $("calls-heading");
  back.focus();
}

// --- wiring -------------------------------------------------------------------------------

function schedule(t) {
  for (const name of t.queues) batch.add(`q:${name}`, () => queues.draw(name));
  for (const id of t.agents) batch.add(`a:${id}`, () => drawAgent(id));
  for (const id of t.calls) batch.add(`c:${id}`, () => drawCall(id));
  for (const id of t.alerts) batch.add(`al:${id}`, () => alerts.draw(id));
  if (t.alerts.size) batch.late("alert-counts", () => alerts.drawCounts());
  if (t.order) requestOrder();
  if (t.totals) batch.late("totals", drawTotals);
}

function onSnapshot(snapshot) {
  clock.sync(snapshot.now);
  const before = model.load(snapshot);
  outlook.load(snapshot);
  channels.load(snapshot);
  const t = touched();
  for (const [kind, keys] of Object.entries(before)) for (const key of keys) t[kind].add(key);
  for (const name of model.queues.keys()) t.queues.add(name);
  for (const id of model.agents.keys()) t.agents.add(id);
  for (const id of model.calls.keys()) t.calls.add(id);
  for (const id of model.alerts.keys()) t.alerts.add(id);
  t.order = t.totals = true;
  schedule(t);
  batch.late("alert-counts", () => alerts.drawCounts());
  batch.late("queues-empty", () => {
    $("queues-empty").hidden = model.queues.size > 0;
    $("board").setAttribute("aria-busy", "false");
  });
}

function onEvent(event) {
  clock.observe(event.at);
  const t = touched();
  const data = event.data ?? {};
  switch (event.type) {
    case "call.updated": model.upsertCall(data, t); break;
    case "agent.updated": model.upsertAgent(data, t); break;
    case "agent.removed": model.removeAgent(data.id, t); break;
    case "queue.stats": model.queueStats(data, t); break;
    case "queue.outlook": outlook.update(data, event.at); channels.update(data, event.at); break;
    case "call.mood": model.mood(event.call_id, data, t); break;
    case "alert.raised":
      if (model.raise(data, t)) {
        announce($("announcer"), `${data.severity} alert: ${data.reason}${data.caller ? `, caller ${data.caller}` : ""}`);
      }
      break;
    case "alert.acked": model.ack(data, t); break;
    case "transcript.final":
      if (event.call_id === watching) {
        transcript.add(data);
        earlyLines?.push(data);
      }
      break;
    case "transcript.partial": if (event.call_id === watching) transcript.partial(data); break;
    case "task.typing":
      if (event.call_id === watching) {
        setText($("transcript-partials"), data.author === "customer" ? "The customer is typing…" : "The agent is typing…");
        setTimeout(() => setText($("transcript-partials"), ""), 3000);
      }
      break;
    case "task.message":
      if (event.call_id === watching) {
        const line = messageLine(data);
        transcript.add(line);
        earlyLines?.push(line);
      }
      break;
    default: break; // other events are not the wallboard's
  }
  schedule(t);
}

function onFrame(frame) {
  if (frame.type !== "transcript" || frame.call_id !== watching) return;
  // the transcript so far, then any line that arrived while it was on its way
  transcript.reset(frame.utterances ?? []);
  for (const line of earlyLines ?? []) transcript.add(line);
  earlyLines = null;
}

function setConnection(text, kind) {
  const line = $("connection");
  setText(line, text);
  setAttr(line, "data-kind", kind);
}

const socket = new LiveSocket("/ws/wallboard", () => session.token, {
  onSnapshot,
  onEvent,
  onFrame,
  onStatus: setConnection,
  onReady: () => {
    if (!watching) return;
    earlyLines = [];
    socket.send({ type: "watch", call_id: watching });
  },
  onDenied: (code, message) => {
    session.forget();
    askToken(message);
  },
});

const alerts = new AlertFeed(model, {
  feed: $("alert-feed"),
  openCount: $("alerts-open"),
  empty: $("alerts-empty"),
  send: (message) => socket.send(message),
  open: openTranscript,
  notSent: () => setConnection("Not connected: the alert was not acknowledged; try again", "error"),
});

const askToken = tokenForm($("token-form"), (token) => {
  session.save(token);
  socket.reset();
  socket.start();
});

$("call-sort").addEventListener("change", () => batch.late("order", orderCalls));
$("transcript-close").addEventListener("click", closeTranscript);
$("transcript-panel").addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeTranscript();
});

if (session.load()) socket.start();
else askToken("Enter a supervisor access token to open the wallboard.");
