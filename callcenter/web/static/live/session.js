// The access token and the REST calls made with it. The token comes from the page's URL
// fragment (#token=..., never sent to the server) or the "Access token" form, is kept in
// sessionStorage (this tab only) and travels only in the websocket's auth message and in
// Authorization headers: it is never put in a URL.

/** An RFC 9457 problem answer (or a network failure) as an error whose message is `detail`. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export class Session {
  /** `page` names the storage slot: a wallboard and an agent tab keep their own tokens. */
  constructor(page) {
    this.key = `callcenter.${page}.token`;
  }

  /** The token from the fragment (which is then removed from the address bar) or storage. */
  load() {
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
    const given = fragment.get("token");
    if (given) {
      this.save(given);
      fragment.delete("token");
      const rest = fragment.toString();
      history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    }
    return this.token;
  }

  get token() {
    try {
      return sessionStorage.getItem(this.key);
    } catch {
      return this.memory ?? null; // storage disabled: keep it for this page only
    }
  }

  save(token) {
    this.memory = token;
    try {
      sessionStorage.setItem(this.key, token);
    } catch {
      // storage disabled: the in-memory copy serves this page
    }
  }

  forget() {
    this.memory = null;
    try {
      sessionStorage.removeItem(this.key);
    } catch {
      // nothing stored
    }
  }

  /**
   * Call the REST API with the token. Resolves to the JSON answer (null when empty);
   * rejects with an ApiError carrying the problem's `detail`.
   */
  async api(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token ?? ""}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      throw new ApiError(0, "the server cannot be reached; try again");
    }
    const text = await response.text();
    let doc = null;
    try {
      doc = text ? JSON.parse(text) : null;
    } catch {
      doc = null;
    }
    if (!response.ok) {
      const detail = doc && (doc.detail || doc.title);
      throw new ApiError(response.status, detail || `${response.status} ${response.statusText}`);
    }
    return doc;
  }
}

/**
 * Wire the page's "Access token" form: show it, and call `onToken(token)` when it is
 * submitted with something in it. Returns a function that shows the form again (with a
 * message) when the server refuses the token.
 */
export function tokenForm(form, onToken) {
  const input = form.querySelector("input");
  const message = form.querySelector("[data-role=token-message]");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      message.textContent = "Enter an access token.";
      input.focus();
      return;
    }
    input.value = "";
    form.hidden = true;
    onToken(token);
  });
  return (text) => {
    message.textContent = text;
    form.hidden = false;
    input.focus();
  };
}
