// API reference page: fetches the server's OpenAPI 3.1 document (/v1/openapi.json)
// and renders it as readable documentation: contents, authentication, one section
// per tag with every operation, and a list of all component schemas.
// Document text only ever reaches the page as text nodes (never innerHTML).

const SPEC_URL = "/v1/openapi.json";
const METHODS = ["get", "put", "post", "patch", "delete", "head", "options", "trace"];
const CONSTRAINTS = ["format", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum",
  "minLength", "maxLength", "minItems", "maxItems", "pattern", "const", "default"];
const FLAGS = { readOnly: "read-only", writeOnly: "write-only", deprecated: "deprecated" };
const COMPOSITIONS = [["oneOf", "one of", " | "], ["anyOf", "any of", " | "], ["allOf", "all of", " & "]];

/** Create an element: attributes via setAttribute, children as nodes or plain text. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(typeof child === "object" ? child : String(child));
    }
  }
  return node;
}

/** Last segment of a JSON pointer ref ("#/components/schemas/Call" -> "Call"). */
export function refName(ref) {
  return String(ref).split("/").pop().replace(/~1/g, "/").replace(/~0/g, "~");
}

/** Follow a local "#/..." JSON pointer inside the document; undefined if it does not resolve. */
export function resolvePointer(doc, ref) {
  if (typeof ref !== "string" || !ref.startsWith("#/")) return undefined;
  return ref.slice(2).split("/")
    .map((part) => decodeURIComponent(part).replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((node, part) => (node === undefined || node === null ? undefined : node[part]), doc);
}

/** An object that may be a {$ref}: return what it points at (or itself). */
function deref(doc, obj) {
  return obj && obj.$ref ? resolvePointer(doc, obj.$ref) ?? {} : obj ?? {};
}

/** Turn arbitrary text into something usable in an id attribute. */
export function slug(text) {
  return String(text).toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "") || "x";
}

/** One-line type description, e.g. "string | null", "array of Call", "Call | Queue". */
export function typeLabel(schema) {
  if (!schema || typeof schema !== "object") return "any";
  if (schema.$ref) return refName(schema.$ref);
  const comp = COMPOSITIONS.find(([key]) => Array.isArray(schema[key]));
  if (comp && !schema.type) return schema[comp[0]].map(typeLabel).join(comp[2]);
  const guess = schema.properties ? "object" : schema.items ? "array"
    : schema.const !== undefined ? typeof schema.const : schema.enum ? "enum" : "any";
  return [].concat(schema.type ?? guess)
    .map((type) => (type === "array" && schema.items ? `array of ${typeLabel(schema.items)}` : type))
    .join(" | ");
}

/** Human-readable constraints of a schema, e.g. ["minLength: 1", "enum: \"a\", \"b\""]. */
export function constraintList(schema) {
  if (!schema || typeof schema !== "object") return [];
  const out = CONSTRAINTS.filter((key) => schema[key] !== undefined).map((key) => {
    const value = schema[key];
    const raw = typeof value === "string" && key !== "default" && key !== "const";
    return `${key}: ${raw ? value : JSON.stringify(value)}`;
  });
  if (Array.isArray(schema.enum)) out.push(`enum: ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`);
  for (const [key, label] of Object.entries(FLAGS)) if (schema[key] === true) out.push(label);
  return out;
}

/** Group operations by their first tag (declared tag order first, "Other" last). */
export function groupOperations(doc) {
  const groups = new Map((doc.tags ?? []).map((tag) => [tag.name, []]));
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS.filter((m) => item && item[m])) {
      const op = item[method];
      const tag = (op.tags && op.tags[0]) || "Other";
      if (!groups.has(tag)) groups.set(tag, []);
      const id = op.operationId || slug(`${method}-${path}`);
      groups.get(tag).push({ method, path, op, id, shared: item.parameters ?? [] });
    }
  }
  const other = groups.get("Other");
  groups.delete("Other");
  if (other) groups.set("Other", other);
  return [...groups].filter(([, ops]) => ops.length > 0);
}

/** Path-level parameters overridden by operation-level ones (same name + location). */
export function mergeParameters(doc, shared = [], own = []) {
  const byKey = new Map();
  for (const param of [...shared, ...own].map((p) => deref(doc, p))) byKey.set(`${param.in}:${param.name}`, param);
  return [...byKey.values()];
}

/** Short text for a security scheme: "bearer (JWT)", "header X-Api-Key", ... */
export function schemeText(scheme) {
  if (scheme.scheme) return scheme.bearerFormat ? `${scheme.scheme} (${scheme.bearerFormat})` : scheme.scheme;
  if (scheme.type === "apiKey") return `${scheme.in} ${scheme.name}`;
  if (scheme.flows) return Object.keys(scheme.flows).join(", ");
  return scheme.openIdConnectUrl ?? "";
}

function schemaLink(name) {
  return el("a", { href: `#schema-${name}` }, el("code", { class: "type" }, name));
}

/** A $ref: a link to the Schemas section, expandable in place unless already on this path. */
function refNode(ref, ctx, prefix = "") {
  const name = refName(ref);
  const target = resolvePointer(ctx.doc, ref);
  if (target === undefined || ctx.path.includes(name)) return el("span", { class: "ref" }, prefix, schemaLink(name));
  const details = el("details", { class: "ref" }, el("summary", {}, prefix, schemaLink(name)));
  let built = false;
  details.addEventListener("toggle", () => {
    if (!details.open || built) return;
    built = true;
    details.append(schemaNode(target, { ...ctx, path: [...ctx.path, name] }));
  });
  return details;
}

/** A schema as a compact nested description (type line, properties, variants). */
function schemaNode(schema, ctx) {
  if (schema && schema.$ref) return refNode(schema.$ref, ctx);
  const s = schema && typeof schema === "object" ? schema : {};
  const box = el("div", { class: "schema" });
  const comp = COMPOSITIONS.find(([key]) => Array.isArray(s[key]));
  const line = el("div", { class: "schema-line" });
  if (s.items && s.items.$ref) box.append(refNode(s.items.$ref, ctx, "array of "));
  else line.append(el("code", { class: "type" }, comp && !s.type ? `${comp[1]}:` : typeLabel(s)));
  line.append(...constraintList(s).map((c) => el("span", { class: "constraint" }, c)));
  if (s.description) line.append(el("span", { class: "desc" }, s.description));
  if (line.childNodes.length > 0) box.append(line);
  if (s.discriminator) box.append(discriminatorNode(s.discriminator));
  if (comp) box.append(el("ul", { class: "variants" }, s[comp[0]].map((v) => el("li", {}, schemaNode(v, ctx)))));
  if (s.items && !s.items.$ref && isComplex(s.items)) box.append(schemaNode(s.items, ctx));
  if (s.properties) box.append(propertiesNode(s, ctx));
  if (s.additionalProperties && typeof s.additionalProperties === "object") {
    box.append(el("div", { class: "map-values" }, "values: ", schemaNode(s.additionalProperties, ctx)));
  }
  return box;
}

function isComplex(s) {
  return Boolean(s && (s.properties || s.items || s.additionalProperties
    || COMPOSITIONS.some(([key]) => Array.isArray(s[key]))));
}

function propertiesNode(schema, ctx) {
  const required = new Set(schema.required ?? []);
  return el("ul", { class: "props" }, Object.entries(schema.properties).map(([name, prop]) => el("li", {},
    el("span", { class: "prop-head" }, el("code", { class: "prop-name" }, name),
      required.has(name) ? el("span", { class: "required" }, "required") : null),
    schemaNode(prop, ctx))));
}

/** "chosen by `type`: call.created → CallCreated, ..." */
function discriminatorNode(disc) {
  const p = el("p", { class: "discriminator" }, "chosen by ", el("code", {}, disc.propertyName));
  Object.entries(disc.mapping ?? {}).forEach(([value, ref], i) => {
    p.append(i ? ", " : ": ", el("code", {}, value), " → ", schemaLink(refName(ref)));
  });
  return p;
}

function typeCell(schema) {
  const type = schema && schema.$ref ? schemaLink(refName(schema.$ref)) : el("code", { class: "type" }, typeLabel(schema));
  return el("td", {}, type, constraintList(schema).map((c) => [" ", el("span", { class: "constraint" }, c)]));
}

function parametersNode(params) {
  if (params.length === 0) return null;
  const head = el("tr", {}, ["Name", "In", "Required", "Type", "Description"].map((t) => el("th", { scope: "col" }, t)));
  const rows = params.map((p) => el("tr", {},
    el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, p.required ? "yes" : "no"),
    typeCell(p.schema), el("td", {}, p.description ?? (p.schema && p.schema.description) ?? "")));
  return el("div", { class: "block" }, el("h4", {}, "Parameters"),
    el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, rows))));
}

function contentNodes(content, ctx) {
  return Object.entries(content ?? {}).map(([type, media]) => el("div", { class: "media" },
    el("code", { class: "media-type" }, type), media && media.schema ? schemaNode(media.schema, ctx) : null));
}

function requestBodyNode(body, ctx) {
  if (!body || !body.content) return null;
  return el("div", { class: "block" },
    el("h4", {}, "Request body", body.required ? el("span", { class: "required" }, "required") : null),
    body.description ? el("p", {}, body.description) : null, contentNodes(body.content, ctx));
}

function responsesNode(responses, ctx) {
  const items = Object.entries(responses).map(([code, response]) => {
    const r = deref(ctx.doc, response);
    const cls = /^[1-5]/.test(code) ? `status status-${code[0]}xx` : "status status-other";
    return el("li", { class: "response" }, el("span", { class: "response-head" },
      el("code", { class: cls }, code), " ", r.description ?? ""), contentNodes(r.content, ctx));
  });
  if (items.length === 0) return null;
  return el("div", { class: "block" }, el("h4", {}, "Responses"), el("ul", { class: "responses" }, items));
}

function rolesNode(roles) {
  if (!Array.isArray(roles) || roles.length === 0) return null;
  return el("div", { class: "roles" }, el("span", { class: "label" }, "Roles:"),
    el("ul", { class: "chips", "aria-label": "Required roles" }, roles.map((r) => el("li", { class: "chip" }, r))));
}

function methodBadge(method) {
  return el("span", { class: `method method-${method}` }, method.toUpperCase());
}

function operationNode({ method, path, op, id, shared }, ctx) {
  const open = Array.isArray(op.security) && op.security.length === 0;
  return el("article", { class: "operation", id },
    el("h3", {}, methodBadge(method), " ", el("code", { class: "path" }, path)),
    op.summary ? el("p", { class: "summary" }, op.summary) : null,
    op.deprecated ? el("p", { class: "deprecated" }, "Deprecated") : null,
    op.description ? el("p", { class: "description" }, op.description) : null,
    rolesNode(op["x-roles"]), open ? el("p", { class: "note" }, "No authentication required.") : null,
    parametersNode(mergeParameters(ctx.doc, shared, op.parameters)),
    requestBodyNode(deref(ctx.doc, op.requestBody), ctx), responsesNode(op.responses ?? {}, ctx));
}

function tagSection(tag, ops, ctx) {
  const info = (ctx.doc.tags ?? []).find((t) => t.name === tag);
  return el("section", { id: `tag-${slug(tag)}`, "aria-labelledby": `tag-${slug(tag)}-h` },
    el("h2", { id: `tag-${slug(tag)}-h` }, tag),
    info && info.description ? el("p", { class: "description" }, info.description) : null,
    ops.map((entry) => operationNode(entry, ctx)));
}

function securityNode(doc) {
  const schemes = Object.entries((doc.components && doc.components.securitySchemes) ?? {});
  const head = el("tr", {}, ["Name", "Type", "Scheme", "Description"].map((t) => el("th", { scope: "col" }, t)));
  const rows = schemes.map(([name, s]) => el("tr", {}, el("td", {}, el("code", {}, name)),
    el("td", {}, s.type ?? ""), el("td", {}, el("code", {}, schemeText(s))), el("td", {}, s.description ?? "")));
  return el("section", { id: "authentication" }, el("h2", {}, "Authentication"),
    schemes.length === 0 ? el("p", {}, "The document declares no security schemes.")
      : el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, rows))),
    el("p", { class: "note" }, "Each operation lists the roles allowed to call it."));
}

function schemasNode(doc, ctx) {
  const schemas = Object.entries((doc.components && doc.components.schemas) ?? {});
  if (schemas.length === 0) return null;
  return el("section", { id: "schemas" }, el("h2", {}, "Schemas"),
    schemas.map(([name, schema]) => el("article", { class: "schema-def", id: `schema-${name}` },
      el("h3", {}, el("code", {}, name)), schemaNode(schema, { ...ctx, path: [name] }))));
}

function tocNode(groups, doc) {
  const hasSchemas = Object.keys((doc.components && doc.components.schemas) ?? {}).length > 0;
  const opLink = ({ method, path, op, id }) => el("li", {}, el("a", { href: `#${id}` },
    methodBadge(method), " ", el("code", { class: "path" }, path), op.summary ? ` — ${op.summary}` : null));
  return el("nav", { "aria-label": "Contents" }, el("h2", {}, "Contents"), el("ul", {},
    el("li", {}, el("a", { href: "#authentication" }, "Authentication")),
    groups.map(([tag, ops]) => el("li", {}, el("a", { href: `#tag-${slug(tag)}` }, tag), el("ul", {}, ops.map(opLink)))),
    hasSchemas ? el("li", {}, el("a", { href: "#schemas" }, "Schemas")) : null));
}

/** Render the whole OpenAPI document; returns the top-level nodes for <main>. */
export function renderDoc(doc) {
  const ctx = { doc, path: [] };
  const info = doc.info ?? {};
  const groups = groupOperations(doc);
  return [
    el("header", {}, el("h1", {}, info.title ?? "API reference",
      info.version ? el("span", { class: "version" }, `v${info.version}`) : null),
    info.description ? el("p", { class: "intro" }, info.description) : null),
    tocNode(groups, doc), securityNode(doc),
    ...groups.map(([tag, ops]) => tagSection(tag, ops, ctx)),
    schemasNode(doc, ctx),
  ].filter(Boolean);
}

async function loadSpec(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
  return response.json();
}

function showError(root, error) {
  root.replaceChildren(el("h1", {}, "API reference"), el("div", { class: "error", role: "alert" },
    el("strong", {}, "Could not load the API description. "),
    `${SPEC_URL}: ${error && error.message ? error.message : String(error)}`));
}

/** The page loads after rendering, so jump to the #anchor ourselves. */
function scrollToHash() {
  const id = location.hash ? decodeURIComponent(location.hash.slice(1)) : "";
  const target = id && document.getElementById(id);
  if (target) target.scrollIntoView();
}

async function main() {
  const root = document.getElementById("app");
  if (!root) return;
  try {
    const doc = await loadSpec(SPEC_URL);
    root.replaceChildren(...renderDoc(doc));
    if (doc.info && doc.info.title) document.title = `${doc.info.title} – API reference`;
    scrollToHash();
  } catch (error) {
    showError(root, error);
  } finally {
    root.removeAttribute("aria-busy");
  }
}

if (typeof document !== "undefined") main();
