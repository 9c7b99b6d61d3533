"use strict";
// The API's description (/openapi.json) as a page: each operation with its parameters, body,
// responses and a curl example. `?api=<base URL>` reads another server's description.

const apiBase = (new URLSearchParams(location.search).get("api") || location.origin).replace(/\/+$/, "");
let spec;

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function resolve(node) {
  let resolved = node;
  while (resolved && resolved.$ref) {
    resolved = resolved.$ref.replace(/^#\//, "").split("/").reduce((at, part) => at[part], spec);
  }
  return resolved || {};
}

function describeSchema(schema) {
  const resolved = resolve(schema);
  const type = Array.isArray(resolved.type) ? resolved.type.join(" | ") : (resolved.type || "");
  const facts = [type];
  if (resolved.enum) facts.push(`one of ${resolved.enum.join(", ")}`);
  if (resolved.minimum !== undefined || resolved.maximum !== undefined) {
    facts.push(`${resolved.minimum ?? ""}…${resolved.maximum ?? ""}`);
  }
  if (resolved.maxLength) facts.push(`${resolved.minLength || 0}–${resolved.maxLength} chars`);
  if (resolved.pattern) facts.push(`pattern ${resolved.pattern}`);
  if (resolved.default !== undefined) facts.push(`default ${JSON.stringify(resolved.default)}`);
  return facts.filter(Boolean).join("; ");
}

// A value the API accepts for a field, for the example.
function sample(name, schema) {
  const resolved = resolve(schema);
  if (resolved.enum) return resolved.enum[0];
  if (resolved.default !== undefined) return resolved.default;
  const type = Array.isArray(resolved.type) ? resolved.type[0] : resolved.type;
  if (type === "integer" || type === "number") return resolved.minimum > 0 ? resolved.minimum : 100;
  if (type === "array") return [sampleObject(resolved.items)];
  if (type === "object") return sampleObject(resolved);
  if (name === "id" || /ImageId$/.test(schema.$ref || "")) return "$WATERMARK_ID";
  if (name === "url") return "https://example.com/photo.jpg";
  return "sample";
}

function sampleObject(schema) {
  const resolved = resolve(schema);
  const required = resolved.required || Object.keys(resolved.properties || {}).slice(0, 1);
  return Object.fromEntries(required.map((name) => [name, sample(name, resolved.properties[name])]));
}

function curl(path, method, operation) {
  const lines = [`curl -s -X ${method.toUpperCase()} -H "x-api-key: $KEY"`];
  const body = resolve(operation.requestBody);
  const content = body.content || {};
  if (content["multipart/form-data"]) {
    lines.push("-F name=sample -F image=@docs/sample.png");
  } else if (content["application/json"] && body.required) {
    const json = JSON.stringify(sampleObject(content["application/json"].schema));
    lines.push(`-H 'content-type: application/json' -d '${json}'`);
  }
  lines.push(`"$API${path.replace("{image_id}", "$IMAGE_ID")}"`);
  return lines.join(" \\\n  ");
}

function table(headings, rows) {
  const node = element("table");
  const head = node.createTHead().insertRow();
  headings.forEach((heading) => head.append(element("th", heading)));
  const tbody = node.createTBody();
  rows.forEach((row) => {
    const tr = tbody.insertRow();
    row.forEach((cell) => tr.insertCell().append(cell));
  });
  return node;
}

function operationSection(path, method, item, operation) {
  const section = element("section", undefined, "operation");
  section.id = operation.operationId;
  const heading = element("h3");
  heading.append(element("code", `${method.toUpperCase()} ${path}`), ` ${operation.summary || ""}`);
  section.append(heading);
  if (operation.description) section.append(element("p", operation.description));
  const parameters = [...(item.parameters || []), ...(operation.parameters || [])].map(resolve);
  if (parameters.length) {
    section.append(element("h4", "Parameters"), table(["Name", "In", "Required", "Schema", "Description"],
      parameters.map((p) => [p.name, p.in, p.required ? "yes" : "no", describeSchema(p.schema), p.description || ""])));
  }
  const body = resolve(operation.requestBody);
  for (const [type, media] of Object.entries(body.content || {})) {
    const schema = resolve(media.schema);
    const required = new Set(schema.required || []);
    section.append(element("h4", `Body (${type})${body.required ? "" : ", optional"}`));
    const properties = Object.entries(schema.properties || {});
    if (properties.length) {
      section.append(table(["Field", "Required", "Schema", "Description"], properties.map(([name, property]) =>
        [name, required.has(name) ? "yes" : "no", describeSchema(property), resolve(property).description || ""])));
    }
  }
  section.append(element("h4", "Responses"), table(["Status", "Meaning"],
    Object.entries(operation.responses || {}).map(([status, response]) => [status, resolve(response).description || ""])));
  section.append(element("h4", "Example"), element("pre", curl(path, method, operation), "curl"));
  return section;
}

async function render() {
  const main = document.getElementById("docs");
  try {
    spec = await (await fetch(`${apiBase}/openapi.json`)).json();
  } catch (error) {
    main.textContent = `Could not read ${apiBase}/openapi.json: ${error.message}`;
    return;
  }
  document.getElementById("openapi-link").href = `${apiBase}/openapi.json`;
  const server = (spec.servers && spec.servers[0] && spec.servers[0].url) || apiBase;
  main.replaceChildren(
    element("h2", `${spec.info.title} (${spec.info.version})`),
    element("p", spec.info.description),
    element("p", "Every example expects these variables:"),
    element("pre", `export API=${server}\nexport KEY=test_…        # the key \`make run\` printed\nexport IMAGE_ID=image_…   # an image of that key's account`, "curl"),
  );
  const index = element("ul", undefined, "index");
  const sections = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of ["get", "post", "put", "delete"]) {
      const operation = item[method];
      if (!operation) continue;
      const link = element("a", `${method.toUpperCase()} ${path}`);
      link.href = `#${operation.operationId}`;
      const entry = element("li");
      entry.append(link, ` — ${operation.summary || ""}`);
      index.append(entry);
      sections.push(operationSection(path, method, item, operation));
    }
  }
  main.append(element("h2", "Operations"), index, ...sections);
}

render();
