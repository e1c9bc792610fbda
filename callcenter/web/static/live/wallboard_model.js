// The wallboard's state, fed by the snapshot and the events: queues, agents, live calls,
// each call's moods, alerts. Each change reports what it touched (rows to redraw) so the
// view redraws only those. Pure data: no DOM here.

const BUSY = new Set(["reserved", "on_call", "wrap_up"]);
const MAX_ALERTS = 300;

/** The "touched" report of a change: keys of the rows to redraw. */
export function touched() {
  return { queues: new Set(), agents: new Set(), calls: new Set(), alerts: new Set(), order: false, totals: false };
}

function newer(current, incoming) {
  return !current || typeof incoming.version !== "number" || incoming.version >= (current.version ?? 0);
}

export const TEXT_CHANNELS = new Set(["chat", "sms", "email"]);

export class WallboardModel {
  constructor() {
    this.queues = new Map(); // name -> {name, service_level_seconds, today}
    this.agents = new Map(); // id -> Agent
    this.calls = new Map(); // id -> CallView (never "ended")
    this.moods = new Map(); // call id -> {caller, agent}
    this.alerts = new Map(); // id -> Alert (+ acked, acked_by, acked_at); oldest first
    this.queued = new Map(); // queue -> Set of call ids waiting in it
  }

  /** Replace everything with a snapshot. Returns what existed before (to drop its rows). */
  load(snapshot) {
    const before = {
      queues: new Set(this.queues.keys()),
      agents: new Set(this.agents.keys()),
      calls: new Set(this.calls.keys()),
      alerts: new Set(this.alerts.keys()),
    };
    this.queues.clear();
    this.agents.clear();
    this.calls.clear();
    this.moods.clear();
    this.alerts.clear();
    this.queued.clear();
    for (const queue of snapshot.queues ?? []) this.queues.set(queue.name, { ...queue });
    for (const agent of snapshot.agents ?? []) this.agents.set(agent.id, agent);
    for (const call of snapshot.calls ?? []) {
      if (call.state === "ended") continue;
      this.calls.set(call.id, call);
      this.index(call);
      this.ensureQueue(call.queue);
      if (call.moods) this.moods.set(call.id, { ...call.moods });
    }
    const alerts = [...(snapshot.alerts ?? [])].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    for (const alert of alerts.slice(-MAX_ALERTS)) this.alerts.set(alert.id, { ...alert });
    return before;
  }

  ensureQueue(name) {
    if (name && !this.queues.has(name)) {
      this.queues.set(name, { name, service_level_seconds: null, today: null });
      return true;
    }
    return false;
  }

  index(call) {
    // the queue table counts callers: chats, SMS and emails have their own panel
    if (call.state !== "queued" || TEXT_CHANNELS.has(call.channel)) return;
    if (!this.queued.has(call.queue)) this.queued.set(call.queue, new Set());
    this.queued.get(call.queue).add(call.id);
  }

  unindex(call) {
    this.queued.get(call?.queue)?.delete(call.id);
  }

  /** call.updated: upsert (higher version wins); "ended" leaves the live tables. */
  upsertCall(call, t) {
    const old = this.calls.get(call.id);
    if (!newer(old, call)) return;
    if (old) {
      this.unindex(old);
      t.queues.add(old.queue);
      if (old.agent_id) t.agents.add(old.agent_id);
    }
    if (call.state === "ended") {
      this.calls.delete(call.id);
      this.moods.delete(call.id);
    } else {
      this.calls.set(call.id, call);
      this.index(call);
    }
    if (this.ensureQueue(call.queue)) t.order = true;
    t.queues.add(call.queue);
    if (call.agent_id) t.agents.add(call.agent_id);
    t.calls.add(call.id);
    t.order = true;
    t.totals = true;
  }

  upsertAgent(agent, t) {
    if (!newer(this.agents.get(agent.id), agent)) return;
    this.agents.set(agent.id, agent);
    t.agents.add(agent.id);
    t.totals = true;
  }

  removeAgent(id, t) {
    this.agents.delete(id);
    t.agents.add(id);
    t.totals = true;
  }

  queueStats(data, t) {
    if (!data?.name) return;
    this.ensureQueue(data.name);
    const queue = this.queues.get(data.name);
    queue.today = data.today ?? queue.today;
    if (typeof data.service_level_seconds === "number") queue.service_level_seconds = data.service_level_seconds;
    t.queues.add(data.name);
  }

  mood(callId, data, t) {
    if (!callId || !data?.speaker) return;
    const moods = this.moods.get(callId) ?? {};
    moods[data.speaker] = data;
    this.moods.set(callId, moods);
    t.calls.add(callId);
    t.order = true;
    const agentId = this.calls.get(callId)?.agent_id;
    if (agentId) t.agents.add(agentId);
  }

  /** alert.raised: returns true when it is new. */
  raise(alert, t) {
    if (!alert?.id || this.alerts.has(alert.id)) return false;
    this.alerts.set(alert.id, { ...alert, acked: Boolean(alert.acked) });
    t.alerts.add(alert.id);
    for (const id of this.alerts.keys()) {
      if (this.alerts.size <= MAX_ALERTS) break;
      this.alerts.delete(id);
      t.alerts.add(id);
    }
    return true;
  }

  ack(data, t) {
    const alert = this.alerts.get(data?.id);
    if (!alert) return;
    alert.acked = true;
    alert.acked_by = data.by ?? null;
    alert.acked_at = data.at ?? null;
    t.alerts.add(alert.id);
  }

  /** The id of the oldest waiting call's queued_at in a queue, or null. */
  oldestQueuedAt(queue) {
    let oldest = null;
    for (const id of this.queued.get(queue) ?? []) {
      const at = Date.parse(this.calls.get(id)?.queued_at ?? "");
      if (!Number.isNaN(at) && (oldest === null || at < oldest)) oldest = at;
    }
    return oldest;
  }

  waiting(queue) {
    return this.queued.get(queue)?.size ?? 0;
  }

  totals() {
    let available = 0;
    let busy = 0;
    let away = 0;
    for (const agent of this.agents.values()) {
      if (BUSY.has(agent.activity)) busy += 1;
      else if (agent.presence === "available") available += 1;
      else if (agent.presence === "away" || agent.presence === "break") away += 1;
    }
    let waiting = 0;
    for (const ids of this.queued.values()) waiting += ids.size;
    return { available, busy, away, waiting };
  }

  /** Live call ids in display order for a sort key: "mood", "wait" or "newest". */
  order(sort) {
    const calls = [...this.calls.values()];
    const started = (call) => Date.parse(call.queued_at ?? call.created_at) || 0;
    const score = (call) => this.moods.get(call.id)?.caller?.score ?? 0;
    const byAge = (a, b) => started(a) - started(b) || (a.id < b.id ? -1 : 1);
    const compare = {
      mood: (a, b) => score(a) - score(b) || byAge(a, b),
      wait: byAge,
      newest: (a, b) => byAge(b, a),
    }[sort] ?? byAge;
    return calls.sort(compare).map((call) => call.id);
  }
}
