// The web chat widget: one <script src=".../static/chat/widget.js" data-queue="support">
// adds a chat button and panel to any page, in a shadow root so the page's styles and ours
// never mix. It talks to the server that served it over /ws/chat: start (optional name,
// email, phone), then messages both ways; the session token is kept in sessionStorage so a
// reload or a dropped connection resumes the same chat with its history. Everything shown is
// text (never markup). No CDN, no build step.
(() => {
  const script = document.currentScript;
  const origin = new URL(script.src, location.href);
  const socketUrl = `${origin.protocol === "https:" ? "wss:" : "ws:"}//${origin.host}/ws/chat`;
  const queue = script.dataset.queue || null;
  const KEY = `callcenter.chat.${origin.host}`;
  const host = document.createElement("div");
  host.id = "callcenter-chat";
  document.body.append(host);
  const root = host.attachShadow({ mode: "open" });
  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = new URL("widget.css", origin).href;
  root.append(style);

  const node = (tag, attrs = {}, ...children) => {
    const made = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) made.setAttribute(name, value);
    for (const child of children) made.append(child);
    return made;
  };
  const button = node("button", { class: "open", type: "button", "aria-expanded": "false" }, "Chat with us");
  const panel = node("section", { class: "panel", "aria-label": "Chat", hidden: "" });
  const status = node("p", { class: "status", role: "status" }, "");
  const log = node("ol", { class: "log", role: "log", "aria-live": "polite" });
  const typing = node("p", { class: "typing", hidden: "" }, "The agent is typing…");
  let typingTimer = null;
  const intro = node("form", { class: "intro" },
    node("label", {}, "Name ", node("input", { name: "name", maxlength: "100", autocomplete: "name" })),
    node("label", {}, "Email ", node("input", { name: "email", type: "email", maxlength: "254", autocomplete: "email" })),
    node("label", {}, "Phone ", node("input", { name: "phone", type: "tel", maxlength: "16", placeholder: "+15551234567", autocomplete: "tel" })),
    node("label", {}, "How can we help? ", node("textarea", { name: "message", maxlength: "4000", rows: "2", required: "" })),
    node("button", { type: "submit" }, "Start chat"));
  const compose = node("form", { class: "compose", hidden: "" },
    node("textarea", { name: "body", maxlength: "4000", rows: "2", "aria-label": "Message" }),
    node("button", { type: "submit" }, "Send"));
  panel.append(node("h2", {}, "Chat"), status, log, typing, intro, compose);
  root.append(button, panel);

  let socket = null;
  let attempt = 0;
  const seen = new Set();
  const say = (text) => { status.textContent = text; };

  function show(message) {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    const who = message.author === "customer" ? "You" : "Agent";
    log.append(node("li", { class: message.author }, node("b", {}, `${who}: `), message.body));
    log.scrollTop = log.scrollHeight;
    if (message.author !== "customer") typing.hidden = true;
  }

  function onFrame(frame) {
    if (frame.type === "session") {
      sessionStorage.setItem(KEY, frame.token);
    } else if (frame.type === "history") {
      intro.hidden = true;
      compose.hidden = frame.state === "ended";
      for (const message of frame.messages) show(message);
      say(frame.state === "ended" ? "This chat is closed." : frame.agent ? "An agent is with you." : "Waiting for an agent…");
    } else if (frame.type === "message") {
      show(frame.message);
    } else if (frame.type === "state") {
      if (frame.state === "ended") {
        compose.hidden = true;
        sessionStorage.removeItem(KEY);
        say("This chat is closed. Thank you!");
      } else if (frame.agent) {
        say("An agent is with you.");
      }
    } else if (frame.type === "typing") {
      typing.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { typing.hidden = true; }, 4000);
    } else if (frame.type === "error") {
      say(frame.reason);
    }
  }

  function connect(first) {
    socket = new WebSocket(socketUrl);
    socket.addEventListener("open", () => { attempt = 0; socket.send(JSON.stringify(first())); });
    socket.addEventListener("message", (event) => onFrame(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      const token = sessionStorage.getItem(KEY);
      if (event.code === 4401) sessionStorage.removeItem(KEY);
      if (event.code === 1000 || event.code === 4401 || !token) {
        if (event.reason) say(event.reason);
        if (!token) intro.hidden = false;
        return;
      }
      attempt += 1;
      const wait = Math.min(15000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      say("Reconnecting…");
      setTimeout(() => connect(() => ({ type: "resume", token: sessionStorage.getItem(KEY) })), wait);
    });
  }

  intro.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(intro);
    const start = { type: "start", queue };
    for (const field of ["name", "email", "phone", "message"]) {
      const value = String(data.get(field) || "").trim();
      if (value) start[field] = value;
    }
    intro.hidden = true;
    say("Connecting…");
    connect(() => start);
  });
  compose.addEventListener("submit", (event) => {
    event.preventDefault();
    const box = compose.querySelector("textarea");
    const body = box.value.trim();
    if (!body || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "message", body }));
    box.value = "";
  });
  compose.querySelector("textarea").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      compose.requestSubmit();
    }
  });
  button.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
  });
  const token = sessionStorage.getItem(KEY);
  if (token) {
    intro.hidden = true;
    panel.hidden = false;
    connect(() => ({ type: "resume", token }));
  }
})();
