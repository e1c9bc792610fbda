// The agent page (/agent, agent token): presence, the screen pop of an offered call
// (caller profile, history, CRM fields, why the call came here) with accept/reject and a
// countdown to the reservation's expiry, the live transcript and mood of the call, then
// the wrap-up form. Actions go over the REST API; what happens comes over /ws/agent.

import {
  ServerClock, Ticker, announce, dateTime, duration, el, moodBand, renderMood, setAttr, setText, signed,
} from "./dom.js";
import { TEXT_CHANNELS, TaskDesk } from "./agent_tasks.js";
import { renderContacts } from "./contacts.js";
import { renderDecision } from "./decision.js";
import { Session, tokenForm } from "./session.js";
import { LiveSocket } from "./socket.js";
import { TranscriptView } from "./transcript.js";

const $ = (id) => document.getElementById(id);
const ACTIVITY = { idle: "Idle", reserved: "Call ringing", on_call: "On a call", wrap_up: "Wrap-up" };
const PRESENCE = { available: "Available", away: "Away", break: "On a break", offline: "Offline" };
const FINISHED = new Set(["wrap_up", "ended"]);

const session = new Session("agent");
const clock = new ServerClock();
const ticker = new Ticker();
const transcript = new TranscriptView($("transcript-lines"), $("transcript-partials"));
const state = {
  me: null, // Agent
  offer: null, // route.offered data
  call: null, // CallView of the current (or just finished) call
  caller: null, // CallerView
  moods: {},
  saved: false, // the finished call's wrap-up form was saved
};

function status(text, kind = "warn") {
  const line = $("status-line");
  setAttr(line, "data-kind", kind);
  announce(line, text);
}

function newer(current, incoming) {
  return !current || typeof incoming?.version !== "number" || incoming.version >= (current.version ?? 0);
}

// --- drawing --------------------------------------------------------------------------------

function drawAgent() {
  const me = state.me;
  if (!me) return;
  setText($("agent-heading"), `Agent: ${me.name || me.id}`);
  for (const button of document.querySelectorAll("[data-presence]")) {
    setAttr(button, "aria-pressed", button.dataset.presence === me.presence ? "true" : "false");
  }
  const since = me.activity === "idle" ? me.presence_since : me.activity_since;
  const what = me.activity === "idle" ? PRESENCE[me.presence] ?? me.presence : ACTIVITY[me.activity] ?? me.activity;
  ticker.set("activity", $("activity-line"), () => `${what} for ${duration(clock.since(since))}`);
  $("wrap-up-done").hidden = me.activity !== "wrap_up";
}

function fact(list, term, value, attrs = {}) {
  list.append(el("dt", {}, term), el("dd", attrs, value ?? "–"));
}

function drawCaller() {
  const caller = state.caller;
  const call = state.offer?.call ?? state.call;
  const profile = caller?.profile ?? {};
  const history = caller?.history ?? {};
  const number = caller?.key ?? call?.from ?? call?.caller_key ?? "unknown number";
  setText($("caller-name"), profile.name || number);
  const facts = $("caller-facts");
  facts.replaceChildren();
  fact(facts, "Number", number);
  fact(facts, "Queue", call?.queue);
  fact(facts, "Tier", profile.tier);
  const tags = (profile.tags ?? []).length ? el("ul", { class: "tags" }, profile.tags.map((tag) => el("li", {}, tag))) : "none";
  fact(facts, "Tags", tags);
  fact(facts, "Total calls", String(history.calls_total ?? 0));
  fact(facts, "Last call", history.last_call_at ? dateTime(history.last_call_at) : "never");
  fact(facts, "Last agent", history.last_agent);
  fact(facts, "Last outcome", history.last_outcome);
  const last = history.last_sentiment;
  fact(facts, "Last sentiment", typeof last === "number" ? `${signed(last)} (${moodBand(last).replace("-", " ")})` : "–",
    { "data-mood": moodBand(last) });
  fact(facts, "Repeat caller", caller?.repeat_within_7d ? "Yes: called in the last 7 days" : "No", { class: "repeat" });
  setAttr($("pop"), "data-repeat", caller?.repeat_within_7d ? "yes" : "no");
  const account = $("caller-account");
  account.replaceChildren();
  const fields = Object.entries(profile.account ?? {});
  if (!fields.length) account.append(el("dt", {}, "Fields"), el("dd", {}, "none on file"));
  for (const [name, value] of fields) fact(account, name, value === null ? "–" : String(value));
  renderContacts($("caller-contacts"), caller);
}

function drawCallback() {
  const shown = state.offer?.call ?? state.call;
  const callback = shown?.callback;
  $("callback-panel").hidden = !callback;
  ticker.delete("callback-waited");
  if (!callback) return;
  const facts = $("callback-facts");
  facts.replaceChildren();
  fact(facts, "Call back", callback.number, { class: "callback-number" });
  if (callback.name) fact(facts, "Asked for by", callback.name);
  fact(facts, "Requested", dateTime(callback.requested_at));
  const waited = el("span", {}, "");
  fact(facts, "Waited so far", waited);
  // from the customer's place in line: their first call, or the time they asked for
  const since = shown.queued_at ?? callback.requested_at;
  ticker.set("callback-waited", waited, () => duration(Math.max(0, clock.since(since))));
  fact(facts, "Attempt", `${callback.attempt} of ${callback.max_attempts}`, { class: "callback-attempt" });
  if (callback.last_outcome) fact(facts, "Last attempt", callback.last_outcome.replace("_", " "));
  if (callback.dial) fact(facts, "Dialling", callback.dial);
}

function drawPop() {
  const { offer, call } = state;
  const showing = Boolean(offer || call);
  $("pop").hidden = !showing;
  $("offer-actions").hidden = !offer;
  if (!showing) {
    ticker.delete("countdown");
    return;
  }
  const kind = (offer?.call ?? call)?.callback ? "callback" : "call";
  setText($("pop-heading"), offer ? `Incoming ${kind}` : FINISHED.has(call.state) ? `Last ${kind}` : `Current ${kind}`);
  drawCaller();
  drawCallback();
  renderDecision($("route-why"), $("route-decision"), offer?.decision ?? state.decision);
  if (offer) {
    const expires = offer.reservation?.expires_at;
    ticker.set("countdown", $("countdown"), () => {
      const left = clock.until(expires);
      setAttr($("countdown"), "data-urgent", left <= 5 ? "yes" : "no");
      return left > 0 ? `Expires in ${left} s` : "Expired";
    });
  } else {
    ticker.delete("countdown");
  }
}

function drawCall() {
  const { call } = state;
  const live = Boolean(call);
  $("live-call").hidden = !live;
  renderMood($("caller-mood"), state.moods.caller, "caller mood");
  renderMood($("agent-mood"), state.moods.agent, "your mood");
  const wrapping = Boolean(call && FINISHED.has(call.state));
  setText($("live-heading"), wrapping ? "Transcript" : "Live transcript");
  const wasHidden = $("wrap-up").hidden;
  $("wrap-up").hidden = !wrapping;
  if (wrapping && wasHidden) {
    $("wrap-up-form").reset();
    state.saved = false;
  }
}

function drawAll() {
  drawAgent();
  drawPop();
  drawCall();
}

// --- state changes ----------------------------------------------------------------------------

function clearCall() {
  state.call = null;
  state.caller = state.offer?.caller ?? null;
  state.decision = null;
  state.moods = {};
  state.saved = false;
  transcript.clear();
}

const tasks = new TaskDesk({
  session,
  list: $("task-list"),
  pane: $("conversation"),
  announce: (text) => announce($("announcer"), text),
  status: (text, kind) => status(text, kind),
});

function onSnapshot(snapshot) {
  tasks.sync(snapshot.agent?.tasks);
  clock.sync(snapshot.now);
  state.me = snapshot.agent ?? state.me;
  state.offer = snapshot.offer ?? null;
  state.call = snapshot.call ?? null;
  state.caller = snapshot.caller ?? snapshot.offer?.caller ?? null;
  state.decision = snapshot.offer?.decision ?? snapshot.decision ?? null;
  state.moods = { ...(snapshot.moods ?? {}) };
  transcript.reset(snapshot.transcript ?? []);
  $("agent-main").hidden = false;
  drawAll();
  $("agent-main").setAttribute("aria-busy", "false");
}

function offered(data) {
  state.offer = data;
  state.call = null;
  state.caller = data.caller ?? null;
  state.decision = data.decision ?? null;
  state.moods = {};
  state.saved = false;
  transcript.clear();
  const name = data.caller?.profile?.name || data.caller?.key || data.call?.from || "unknown caller";
  announce($("announcer"), `Incoming call from ${name}${data.call?.queue ? `, queue ${data.call.queue}` : ""}. Accept or reject.`);
  drawAll();
}

function callUpdated(call) {
  const mine = state.me && call.agent_id === state.me.id;
  if (state.offer && state.offer.call?.id === call.id) {
    if (call.state === "connected" && mine) {
      state.offer = null;
      state.call = call;
    } else if (call.state !== "offered" || (call.agent_id && !mine)) {
      state.offer = null;
      announce($("announcer"), call.state === "ended" ? "The caller hung up." : "The offer was withdrawn.");
    } else {
      state.offer = { ...state.offer, call };
    }
  } else if (state.call && state.call.id === call.id) {
    if (!newer(state.call, call)) return;
    if (FINISHED.has(call.state) && !FINISHED.has(state.call.state)) {
      announce($("announcer"), "The call ended. Wrap-up: enter a disposition and notes.");
    }
    state.call = call;
  } else if (mine && call.state === "connected") {
    clearCall();
    state.call = call;
  } else {
    return;
  }
  drawAll();
}

function currentCallId() {
  return state.call?.id ?? state.offer?.call?.id ?? null;
}

function onEvent(event) {
  clock.observe(event.at);
  const data = event.data ?? {};
  switch (event.type) {
    case "agent.updated":
      if ((!state.me || data.id === state.me.id) && newer(state.me, data)) {
        state.me = data;
        tasks.sync(data.tasks);
        drawAll();
      }
      break;
    // a chat, SMS or email is worked in the conversations list, beside any call
    case "route.offered": if (TEXT_CHANNELS.has(data.call?.channel)) tasks.offered(data); else offered(data); break;
    case "call.updated": if (TEXT_CHANNELS.has(data.channel)) tasks.updated(data); else callUpdated(data); break;
    case "task.message": tasks.message(event.call_id, data); break;
    case "task.typing": if (data.author === "customer") tasks.customerTyping(event.call_id); break;
    case "call.mood":
      if (event.call_id === currentCallId() && data.speaker) {
        state.moods[data.speaker] = data;
        drawCall();
      }
      break;
    case "transcript.final": if (event.call_id === currentCallId()) transcript.add(data); break;
    case "transcript.partial": if (event.call_id === currentCallId()) transcript.partial(data); break;
    default: break; // not for this page
  }
}

// --- actions ------------------------------------------------------------------------------------

async function act(button, work) {
  if (button.getAttribute("aria-disabled") === "true") return;
  button.setAttribute("aria-disabled", "true");
  try {
    await work();
  } catch (error) {
    status(error.message || "That did not work; try again.");
  } finally {
    button.removeAttribute("aria-disabled");
  }
}

function setPresence(button) {
  act(button, async () => {
    if (!state.me) throw new Error("Not connected yet.");
    const agent = await session.api("POST", `/v1/agents/${encodeURIComponent(state.me.id)}/presence`,
      { presence: button.dataset.presence });
    if (newer(state.me, agent)) state.me = agent;
    drawAgent();
    status(`Presence: ${PRESENCE[agent.presence] ?? agent.presence}`, "ok");
  });
}

function accept() {
  act($("accept"), async () => {
    const offer = state.offer;
    if (!offer) return;
    const call = await session.api("POST", `/v1/reservations/${encodeURIComponent(offer.reservation.id)}/accept`);
    if (state.offer === offer) state.offer = null;
    if (call && (!state.call || state.call.id !== call.id || newer(state.call, call))) state.call = call;
    drawAll();
    status("Call accepted: you are connected.", "ok");
    $("pop-heading").focus();
  });
}

function reject() {
  act($("reject"), async () => {
    const offer = state.offer;
    if (!offer) return;
    await session.api("POST", `/v1/reservations/${encodeURIComponent(offer.reservation.id)}/reject`);
    if (state.offer === offer) state.offer = null;
    drawAll();
    status("Call rejected.", "ok");
    $("agent-heading").focus();
  });
}

async function saveWrapUp() {
  const callId = state.call?.id;
  if (!callId) throw new Error("There is no call to wrap up.");
  await session.api("POST", `/v1/calls/${encodeURIComponent(callId)}/wrap-up`, {
    disposition: $("disposition").value.trim(),
    notes: $("notes").value,
  });
  state.saved = true;
}

function finished() {
  clearCall();
  drawAll();
  $("status-line").focus();
}

function submitWrapUp(event) {
  event.preventDefault();
  act($("save-wrap-up"), async () => {
    if (!$("disposition").value.trim()) {
      $("disposition").focus();
      throw new Error("Enter a disposition.");
    }
    await saveWrapUp();
    status("Wrap-up saved.", "ok");
    if (state.me?.activity !== "wrap_up") finished();
  });
}

function wrapUpDone() {
  act($("wrap-up-done"), async () => {
    if (!state.saved && $("disposition").value.trim()) await saveWrapUp();
    const agent = await session.api("POST", `/v1/agents/${encodeURIComponent(state.me.id)}/wrap-up/done`);
    if (newer(state.me, agent)) state.me = agent;
    status("Wrap-up done: ready for the next call.", "ok");
    finished();
  });
}

// --- wiring -------------------------------------------------------------------------------------

function setConnection(text, kind) {
  setText($("connection"), text);
  setAttr($("connection"), "data-kind", kind);
}

const socket = new LiveSocket("/ws/agent", () => session.token, {
  onSnapshot,
  onEvent,
  onStatus: setConnection,
  onDenied: (code, message) => {
    session.forget();
    $("agent-main").hidden = true;
    askToken(message);
  },
});

const askToken = tokenForm($("token-form"), (token) => {
  session.save(token);
  socket.reset();
  socket.start();
});

for (const button of document.querySelectorAll("[data-presence]")) {
  button.addEventListener("click", () => setPresence(button));
}
$("accept").addEventListener("click", accept);
$("reject").addEventListener("click", reject);
$("wrap-up-form").addEventListener("submit", submitWrapUp);
$("wrap-up-done").addEventListener("click", wrapUpDone);

if (session.load()) socket.start();
else askToken("Enter your agent access token.");
