// The customer's record across channels in the screen pop: their other identities and the
// last contacts of every channel (channel, when, agent, outcome, sentiment, and the last
// lines of a conversation), newest first, so nobody has to ask what happened. Text only.

import { el } from "./dom.js";

const CHANNEL = { voice: "Call", callback: "Callback", chat: "Chat", sms: "SMS", email: "Email" };
const SHOWN = 5;

function when(iso) {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? "–" : at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function renderContacts(node, caller) {
  const identities = caller?.profile?.identities ?? [];
  const recent = (caller?.history?.recent ?? []).slice(0, SHOWN);
  const items = recent.map((contact) => {
    const parts = [CHANNEL[contact.channel] ?? contact.channel ?? "Call", when(contact.at), contact.outcome];
    if (contact.agent_id) parts.push(`agent ${contact.agent_id}`);
    if (typeof contact.sentiment === "number") parts.push(`mood ${contact.sentiment.toFixed(2)}`);
    if (contact.disposition) parts.push(contact.disposition);
    if (contact.unresolved) parts.push("came back");
    const lines = (contact.excerpt ?? []).map((line) => el("li", {}, line));
    return el("li", { "data-channel": contact.channel ?? "voice" }, parts.join(" · "),
      lines.length ? el("ul", { class: "excerpt" }, lines) : null);
  });
  node.replaceChildren(
    el("p", { class: "identities" }, identities.length ? `Also reached at: ${identities.join(", ")}` : ""),
    items.length ? el("ol", { class: "contacts" }, items) : el("p", {}, "No earlier contacts."),
  );
}
