// The live pages' websocket client: authenticates with its first message, applies each
// event once and in order (by `seq`), reconnects with capped exponential back-off and
// jitter, and resumes from the last event seen (`since`) so a short outage replays the
// gap instead of reloading everything. A refused token (4401) or role (4403) stops it:
// retrying could not help, the page asks for another token instead.

const DENIED = new Set([4401, 4403]);
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;

export class LiveSocket {
  /**
   * `path`: "/ws/wallboard" or "/ws/agent". Callbacks:
   * onSnapshot(frame), onEvent(event), onFrame(frame) for other typed frames (e.g. a
   * watched call's transcript), onReady() once the server accepted us (after each
   * connect), onStatus(text, kind) for the connection line, onDenied(code, message).
   */
  constructor(path, getToken, callbacks) {
    this.path = path;
    this.getToken = getToken;
    this.on = callbacks;
    this.lastSeq = null;
    this.epoch = null; // sequence numbers compare only within the bus's epoch
    this.attempt = 0;
    this.ws = null;
    this.retry = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    clearTimeout(this.retry);
    this.connect();
  }

  /** Forget where we were (a new token may be someone else): the next connect snapshots. */
  reset() {
    this.lastSeq = null;
    this.epoch = null;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retry);
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
  }

  /** Send a JSON message if connected; false when it could not be sent. */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.ready) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}${this.path}`);
    this.ws = ws;
    this.ready = false;
    this.denial = null;
    this.on.onStatus?.("Connecting…", "pending");
    ws.addEventListener("open", () => {
      const token = this.getToken() ?? "";
      ws.send(JSON.stringify({ type: "auth", token, since: this.lastSeq, epoch: this.epoch }));
      // Resuming with nothing missed, the server sends nothing: being open is being live.
      // A refused token closes the socket with 4401/4403 straight away.
      this.ready = true;
      this.on.onStatus?.("Live", "ok");
      this.on.onReady?.();
      setTimeout(() => { if (ws === this.ws) this.attempt = 0; }, 5_000);
    });
    ws.addEventListener("message", (message) => {
      if (ws === this.ws) this.receive(message.data);
    });
    ws.addEventListener("close", (closed) => {
      if (ws === this.ws) this.closed(closed);
    });
  }

  receive(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return; // not ours to fix; the server never sends it
    }
    if (Array.isArray(frame)) {
      // events that came close together, in order, in one frame
      for (const one of frame) this.apply(one);
      return;
    }
    this.apply(frame);
  }

  apply(frame) {
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "error") {
      this.serverError(frame);
      return;
    }
    if (frame.type === "snapshot") {
      this.lastSeq = typeof frame.seq === "number" ? frame.seq : null;
      this.epoch = typeof frame.epoch === "string" ? frame.epoch : null;
      this.on.onSnapshot(frame);
    } else if (frame.type === "resync") {
      this.on.onStatus?.("Catching up…", "pending"); // a fresh snapshot follows
    } else if (typeof frame.seq === "number") {
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;
      this.lastSeq = frame.seq;
      if (typeof frame.epoch === "string") this.epoch = frame.epoch;
      this.on.onEvent(frame);
      this.on.onStatus?.("Live", "ok");
    } else {
      this.on.onFrame?.(frame);
    }
  }

  serverError(frame) {
    const text = typeof frame.message === "string" ? frame.message : String(frame.code ?? "error");
    this.denial = text; // if a 4401/4403 close follows, this says why
    if (frame.code !== "unauthorized" && frame.code !== "forbidden") {
      this.on.onStatus?.(`Server: ${text}`, "warn");
    }
  }

  closed(event) {
    this.ws = null;
    this.ready = false;
    if (this.stopped) return;
    if (DENIED.has(event.code)) {
      this.stopped = true;
      const why = event.code === 4401 ? "The access token was refused." : "This token may not open this page.";
      this.on.onStatus?.("Not connected", "error");
      this.on.onDenied?.(event.code, this.denial ? `${why} (${this.denial})` : why);
      return;
    }
    const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt += 1;
    this.on.onStatus?.(`Disconnected; reconnecting in ${Math.ceil(delay / 1000)} s`, "error");
    this.retry = setTimeout(() => this.connect(), delay);
  }
}
