// A call's live transcript, shared by the wallboard and the agent page: final utterances
// in order, each coloured by its sentiment and also labelled with the signed score and
// the word (colour is never the only signal); the words still being spoken (partials),
// one line per speaker, kept apart from the log so screen readers announce only finals.

import { el, moodBand, setText, signed } from "./dom.js";

const MAX_LINES = 500;
const SPEAKERS = { caller: "Caller", agent: "Agent", mixed: "Call" };

function speakerName(speaker) {
  return SPEAKERS[speaker] ?? String(speaker ?? "?");
}

/** The colour band of a line: the server's label decides the side, the score how strong. */
function lineBand(label, score) {
  if (label === "neutral") return "neutral";
  const band = moodBand(score);
  if (label === "negative") return band.endsWith("negative") ? band : "negative";
  if (label === "positive") return band.endsWith("positive") ? band : "positive";
  return band;
}

export class TranscriptView {
  constructor(list, partials) {
    this.list = list;
    this.partials = partials;
    this.partialLines = new Map();
    this.seen = new Set();
  }

  /** Replace everything with these utterances (a watch reply, or a snapshot). */
  reset(utterances = []) {
    this.list.replaceChildren();
    this.seen.clear();
    this.clearPartials();
    for (const entry of utterances) this.add(entry);
  }

  clear() {
    this.reset([]);
  }

  /** One final utterance; the same line twice (replay after a watch) is shown once. */
  add(entry) {
    if (!entry || typeof entry.text !== "string") return;
    const key = `${entry.speaker}|${entry.start_s}|${entry.text}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const label = entry.label ?? "neutral";
    const line = el(
      "li",
      { class: "utterance", "data-mood": lineBand(label, entry.sentiment), "data-label": label, "data-speaker": entry.speaker },
      el("span", { class: "speaker" }, `${speakerName(entry.speaker)}:`),
      " ",
      el("span", { class: "text" }, entry.text),
      " ",
      el("span", { class: "sentiment" }, `(${signed(entry.sentiment)} ${label})`),
    );
    // follow the conversation unless the reader scrolled up to read something earlier
    const list = this.list;
    const following = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    list.append(line);
    while (list.childElementCount > MAX_LINES) list.firstElementChild.remove();
    this.dropPartial(entry.speaker);
    if (following) list.scrollTop = list.scrollHeight;
  }

  /** The words a speaker is saying right now (replaced by the final when it comes). */
  partial(data) {
    if (!data || typeof data.text !== "string") return;
    let line = this.partialLines.get(data.speaker);
    if (!line) {
      line = el("span", { class: "partial", "data-speaker": data.speaker });
      this.partialLines.set(data.speaker, line);
      this.partials.append(line);
    }
    setText(line, `${speakerName(data.speaker)} (speaking): ${data.text}`);
  }

  dropPartial(speaker) {
    const line = this.partialLines.get(speaker);
    if (line) {
      line.remove();
      this.partialLines.delete(speaker);
    }
  }

  clearPartials() {
    this.partialLines.clear();
    this.partials.replaceChildren();
  }
}
