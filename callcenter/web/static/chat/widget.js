// The web chat widget. One tag puts it on any page:
//   <script src="https://<server>/chat/widget.js" data-queue="support"></script>
// (optional: data-topic="orders"). It adds a chat button and panel in a shadow root, so the
// page's styles and ours never mix, and talks only to the server that served it:
// POST /v1/chat/sessions opens a chat (optional name, email, phone), /ws/chat follows it.
// The session token is kept in sessionStorage: a reload or a dropped connection (reconnected
// with back-off) resumes the same chat with its history. Everything shown is text, never
// markup. No CDN, no build step.
(() => {
  const script = document.currentScript;
  if (!script || document.getElementById("callcenter-chat")) return;
  const base = new URL(script.src, location.href);
  const socketUrl = `${base.protocol === "https:" ? "wss:" : "ws:"}//${base.host}/ws/chat`;
  const sessionsUrl = new URL("/v1/chat/sessions", base).href;
  const queue = script.dataset.queue || null;
  const topic = script.dataset.topic || null;
  const KEY = `callcenter.chat.${base.host}`;
  const store = { // storage may be refused (privacy settings): the chat then lasts the page
    get() { try { return sessionStorage.getItem(KEY); } catch { return null; } },
    set(token) { try { sessionStorage.setItem(KEY, token); } catch { /* page-long chat */ } },
    drop() { try { sessionStorage.removeItem(KEY); } catch { /* nothing kept */ } },
  };

  const node = (tag, attrs = {}, ...children) => {
    const made = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) made.setAttribute(name, value);
    made.append(...children); // strings become text nodes: never parsed as HTML
    return made;
  };
  const field = (label, attrs) => node("label", {}, label, node(attrs.rows ? "textarea" : "input", attrs));

  const host = node("div", { id: "callcenter-chat", hidden: "" });
  const root = host.attachShadow({ mode: "open" });
  const sheet = node("link", { rel: "stylesheet", href: new URL("widget.css", base).href });
  const reveal = () => { host.hidden = false; };
  sheet.addEventListener("load", reveal); // no unstyled flash
  sheet.addEventListener("error", reveal);

  const launcher = node("button", { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "panel" }, "Chat with us");
  const minimise = node("button", { class: "minimise", type: "button", "aria-label": "Minimise chat" }, "–");
  const end = node("button", { class: "end", type: "button", hidden: "" }, "End chat");
  const status = node("p", { class: "status", role: "status" });
  const log = node("ol", { class: "log", role: "log", "aria-live": "polite" });
  const typing = node("p", { class: "typing", hidden: "" });
  const problem = node("p", { class: "problem", role: "alert", hidden: "" });
  const intro = node("form", { class: "intro", novalidate: "" },
    field("Name", { name: "name", maxlength: "100", autocomplete: "name" }),
    field("Email", { name: "email", type: "email", maxlength: "254", autocomplete: "email" }),
    field("Phone", { name: "phone", type: "tel", maxlength: "24", placeholder: "+15551234567", autocomplete: "tel" }),
    field("How can we help?", { name: "message", maxlength: "4000", rows: "3", required: "" }),
    problem,
    node("button", { type: "submit" }, "Start chat"));
  const compose = node("form", { class: "compose", hidden: "" },
    node("textarea", { name: "body", maxlength: "4000", rows: "2", "aria-label": "Message", placeholder: "Write a message…" }),
    node("button", { type: "submit" }, "Send"));
  const again = node("button", { class: "again", type: "button", hidden: "" }, "Start a new chat");
  const panel = node("section", { class: "panel", id: "panel", "aria-label": "Chat", hidden: "" },
    node("header", {}, node("h2", {}, "Chat with us"), end, minimise),
    status, log, typing, intro, compose, again);
  root.append(sheet, launcher, panel);

  let socket = null;
  let attempt = 0;
  let retry = null;
  let agent = null; // the name of the agent with the customer, if any
  let closed = false;
  let typedAt = 0;
  let typingTimer = null;
  let pending = null; // the token, when sessionStorage keeps nothing
  const seen = new Set();
  const HINTS = { // the server names the field; say what it wants in words
    phone: "Phone: please use the international format, e.g. +15551234567.",
    email: "Email: that does not look like an email address.",
    name: "Name: at most 100 characters, please.",
  };
  let said = "";
  let flashTimer = null;
  const say = (text) => { said = text; status.textContent = text; };
  const flash = (text) => { // a passing word (a refused message): the status comes back
    status.textContent = text;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { status.textContent = said; }, 5000);
  };

  function open(show) {
    panel.hidden = !show;
    launcher.setAttribute("aria-expanded", String(show));
  }

  function note(text) {
    log.append(node("li", { class: "note" }, text));
    log.scrollTop = log.scrollHeight;
  }

  function show(message) {
    if (seen.has(message.id)) return; // a reconnect's history repeats what we have
    seen.add(message.id);
    const mine = message.author === "customer";
    const at = new Date(message.at);
    const when = node("time", { datetime: message.at }, at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    log.append(node("li", { class: mine ? "customer" : "agent" },
      node("span", { class: "who" }, mine ? "You" : agent || "Agent"), when,
      node("p", { class: "body" }, message.body)));
    log.scrollTop = log.scrollHeight;
    if (!mine) typing.hidden = true;
  }

  function state(value, name, live) {
    if (value === "ended") return finish(live);
    if (name && name !== agent && live) note(`${name} joined the chat`);
    if (!name && agent && live) note(`${agent} left the chat`);
    agent = name;
    say(agent ? `You're chatting with ${agent}.` : "Waiting for an agent…");
  }

  function finish(live) {
    closed = true;
    compose.hidden = true;
    end.hidden = true;
    typing.hidden = true;
    again.hidden = false;
    store.drop();
    if (live) note("The chat is closed. Thank you!");
    say("This chat is closed.");
    if (socket) socket.close(1000, "chat closed");
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "history":
        intro.hidden = true;
        compose.hidden = frame.state === "ended";
        end.hidden = frame.state === "ended";
        state(frame.state, frame.agent, false);
        for (const message of frame.messages) show(message);
        break;
      case "message": show(frame.message); break;
      case "state": state(frame.state, frame.agent, true); break;
      case "typing":
        typing.textContent = `${agent || "The agent"} is typing…`;
        typing.hidden = false;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => { typing.hidden = true; }, 4000);
        break;
      case "error": flash(frame.reason); break;
    }
  }

  function connect() {
    clearTimeout(retry);
    const token = store.get() || pending;
    if (!token) return;
    socket = new WebSocket(socketUrl);
    socket.addEventListener("open", () => { attempt = 0; socket.send(JSON.stringify({ type: "auth", token })); });
    socket.addEventListener("message", (event) => onFrame(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      socket = null;
      if (closed) return;
      if (event.code === 1000) { finish(true); return; } // the customer left
      if (event.code === 4401 || event.code === 4404) { // the session is over: start again
        store.drop();
        reset(event.reason || "This chat has ended.");
        return;
      }
      attempt += 1;
      const wait = Math.min(15000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      say("Reconnecting…");
      retry = setTimeout(connect, wait);
    });
  }

  function reset(message) {
    closed = false;
    pending = null;
    agent = null;
    seen.clear();
    log.replaceChildren();
    intro.hidden = false;
    compose.hidden = true;
    end.hidden = true;
    again.hidden = true;
    say(message);
  }

  async function start(event) {
    event.preventDefault();
    const data = new FormData(intro);
    const body = { queue, topic };
    for (const name of ["name", "email", "phone", "message"]) {
      const value = String(data.get(name) || "").trim();
      if (value) body[name] = name === "phone" ? value.replace(/[\s().-]/g, "") : value;
    }
    if (!body.message) return complain("Please write how we can help.", "message");
    problem.hidden = true;
    for (const input of intro.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    say("Starting the chat…");
    let answer;
    try {
      answer = await fetch(sessionsUrl, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    } catch {
      return complain("We could not reach the chat. Please try again.");
    }
    const found = await answer.json().catch(() => ({}));
    if (answer.status !== 201) {
      const name = answer.status === 422 ? (found.pointer || "").slice(1) : "";
      const why = HINTS[name] || (name ? `${name}: ${found.detail}` : found.detail);
      return complain(why || "The chat could not start. Please try again.", name);
    }
    store.set(found.token);
    pending = found.token;
    intro.hidden = true;
    intro.reset();
    say("Waiting for an agent…");
    connect();
  }

  function complain(text, name) {
    problem.textContent = text;
    problem.hidden = false;
    say("");
    const input = name && intro.querySelector(`[name="${name}"]`);
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
  }

  function send(event) {
    event.preventDefault();
    const box = compose.querySelector("textarea");
    const body = box.value.trim();
    if (!body) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) { flash("Not connected yet: your message is kept here."); return; }
    socket.send(JSON.stringify({ type: "message", body }));
    box.value = "";
  }

  intro.addEventListener("submit", start);
  compose.addEventListener("submit", send);
  const box = compose.querySelector("textarea");
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); compose.requestSubmit(); }
  });
  box.addEventListener("input", () => {
    const now = Date.now();
    if (now - typedAt < 2000 || !socket || socket.readyState !== WebSocket.OPEN) return;
    typedAt = now;
    socket.send(JSON.stringify({ type: "typing" }));
  });
  end.addEventListener("click", () => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "leave" }));
  });
  again.addEventListener("click", () => reset(""));
  launcher.addEventListener("click", () => open(panel.hidden));
  minimise.addEventListener("click", () => open(false));

  const mount = () => {
    document.body.append(host);
    if (store.get()) { open(true); intro.hidden = true; say("Reconnecting…"); connect(); }
  };
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
