// A chat, SMS or email conversation in the wallboard's transcript panel: each message is a
// line (the customer speaks as the caller), with the sentiment the server scored it with.

/** One message as a transcript line. */
export function messageLine(message) {
  const score = typeof message.sentiment === "number" ? message.sentiment : 0;
  const label = message.sentiment_label ?? (score >= 0.05 ? "positive" : score <= -0.05 ? "negative" : "neutral");
  const at = Date.parse(message.at) / 1000;
  return {
    speaker: message.author === "customer" ? "caller" : "agent",
    text: message.body,
    start_s: at,
    end_s: at,
    sentiment: score,
    label,
  };
}

/** The conversation so far, as lines (rejects with the API's error). */
export async function conversationLines(session, taskId) {
  const found = await session.api("GET", `/v1/tasks/${encodeURIComponent(taskId)}/messages`);
  return (found?.messages ?? []).map(messageLine);
}
