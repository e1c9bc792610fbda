// The routing explanation in the screen pop, rendered generically: the one-line reason
// (why/reason) as a sentence, every other field as a term and its value; nested objects
// become nested lists, lists of objects a short numbered list. Whatever fields the router
// adds later show up without changing this page.

import { dateTime, el } from "./dom.js";

const HEADLINE = ["why", "reason"];
const SKIP = new Set(["call_id"]);
const MAX_ITEMS = 5;
const MAX_DEPTH = 3;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** "waited_seconds" -> "Waited seconds". */
export function humanize(key) {
  const words = String(key).replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function scalar(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string" && ISO.test(value)) return dateTime(value);
  return String(value);
}

function valueNode(value, depth) {
  if (Array.isArray(value)) {
    if (!value.length) return "none";
    if (value.every((item) => item === null || typeof item !== "object")) return value.map(scalar).join(", ");
    if (depth >= MAX_DEPTH) return `${value.length} items`;
    const shown = value.slice(0, MAX_ITEMS).map((item) => el("li", {}, valueNode(item, depth + 1)));
    const more = value.length > MAX_ITEMS ? el("li", {}, `and ${value.length - MAX_ITEMS} more`) : null;
    return el("ol", { class: "decision-items" }, shown, more);
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value);
    if (!entries.length) return "none";
    if (depth >= MAX_DEPTH) return entries.map(([k, v]) => `${k} ${scalar(v)}`).join(", ");
    if (entries.every(([, v]) => typeof v === "number")) return entries.map(([k, v]) => `${k} ${scalar(v)}`).join(", ");
    return el("dl", { class: "facts" }, entries.map(([k, v]) => [el("dt", {}, humanize(k)), el("dd", {}, valueNode(v, depth + 1))]));
  }
  return scalar(value);
}

/** Fill `why` (a paragraph) and `list` (a dl) from a decision object (or clear them). */
export function renderDecision(why, list, decision) {
  list.replaceChildren();
  const headline = decision && HEADLINE.find((key) => typeof decision[key] === "string" && decision[key]);
  why.textContent = headline ? decision[headline] : decision ? "" : "No routing explanation.";
  if (!decision || typeof decision !== "object") return;
  for (const [key, value] of Object.entries(decision)) {
    if (SKIP.has(key) || key === headline) continue;
    list.append(el("dt", {}, humanize(key)), el("dd", {}, valueNode(value, 1)));
  }
}
