"use strict";
// The imgforge console: a client of the API like any other. The key is kept in this browser's
// localStorage and sent only to the API base URL, as the x-api-key header.

// Larger files go by direct upload: a Lambda takes at most 6 MB of request, and a file grows by a
// third in base64 on the way.
const INLINE_UPLOAD_LIMIT = 4 * 1024 * 1024;
// Operations with buttons of their own rather than a form.
const OWN_BUTTONS = new Set(["deleteImage", "publishImage", "unpublishImage"]);

const $ = (selector) => document.querySelector(selector);
// Object URLs of the grid's thumbnails and of the open image's views, each revoked when replaced.
const state = { spec: null, images: [], current: null, gridUrls: [], detailUrls: [] };

function base() { return $("#api-base").value.replace(/\/+$/, ""); }
function key() { return localStorage.getItem("imgforge.key") || ""; }

function say(message, isError) {
  $("#status").textContent = message;
  $("#status").classList.toggle("error", Boolean(isError));
}

function humanSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

// Every call to the API: the key, and what the response says of usage and rate limits.
async function api(method, path, { json, body, headers = {} } = {}) {
  const init = { method, headers: { "x-api-key": key(), ...headers } };
  if (json !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(base() + path, init);
  const usage = response.headers.get("x-image-processing-usage");
  if (usage !== null) $("#usage").textContent = usage;
  if (response.status === 429) {
    const wait = response.headers.get("retry-after") || "?";
    $("#rate-limit").textContent = `limited (429): retry after ${wait} s`;
  } else {
    $("#rate-limit").textContent = "ok";
  }
  return response;
}

// The error object's message and problems, as one line.
async function problem(response) {
  try {
    const error = await response.json();
    return [error.message, ...(error.errors || [])].join(" ");
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

async function expectJson(response) {
  if (!response.ok) throw new Error(await problem(response));
  return response.json();
}

async function imageUrl(id, owners) {
  const response = await api("GET", `/v1/images/${id}/download`);
  if (!response.ok) throw new Error(await problem(response));
  const url = URL.createObjectURL(await response.blob());
  owners.push(url);
  return url;
}

function revoke(urls) {
  urls.splice(0).forEach((url) => URL.revokeObjectURL(url));
}

function stageOfKey() {
  const stage = key().split("_")[0];
  return stage === "test" || stage === "live" ? stage : "—";
}

// The grid: a card per image, its thumbnail fetched with the key, one at a time so that a
// rate-limited key is not flooded.
async function refresh() {
  if (!key()) { say("Paste an API key to see your images."); return; }
  revoke(state.gridUrls);
  try {
    const page = await expectJson(await api("GET", "/v1/images?take=100"));
    state.images = page.data;
  } catch (error) {
    say(`Could not list the images: ${error.message}`, true);
    return;
  }
  const grid = $("#grid");
  grid.replaceChildren();
  const cards = state.images.map((image) => {
    const card = document.createElement("div");
    card.className = "thumb";
    card.dataset.id = image.id;
    card.innerHTML = `<img alt=""><div class="name"></div><div class="meta"></div><div class="url"></div>`;
    card.querySelector(".name").textContent = image.name;
    card.querySelector(".meta").textContent =
      `${image.format} · ${image.width}×${image.height} · ${humanSize(image.size)} · ${stageOfKey()}`;
    card.querySelector(".url").textContent = image.url ? image.url : "private";
    card.addEventListener("click", () => open(image.id));
    grid.append(card);
    return card;
  });
  say(`${state.images.length} image(s).`);
  for (const card of cards) {
    try {
      card.querySelector("img").src = await imageUrl(card.dataset.id, state.gridUrls);
      card.classList.add("loaded");
    } catch (error) {
      card.querySelector(".meta").textContent += ` (no thumbnail: ${error.message})`;
    }
  }
}

// Uploads: inline multipart for small files, the direct-upload flow for large ones.
function nameOf(file) {
  return (file.name.replace(/\.[^.]*$/, "") || "image").slice(0, 30);
}

async function upload(file) {
  say(`Uploading ${file.name}…`);
  if (file.size <= INLINE_UPLOAD_LIMIT) {
    const form = new FormData();
    form.append("name", nameOf(file));
    form.append("image", file);
    return expectJson(await api("POST", "/v1/images/upload", { body: form }));
  }
  const reservation = await expectJson(await api("POST", "/v1/uploads", {
    json: { name: nameOf(file), size: file.size, content_type: file.type },
  }));
  // A browser sets Content-Length itself and refuses to be told it.
  const headers = { ...reservation.headers };
  delete headers["content-length"];
  const put = await fetch(reservation.upload_url, { method: "PUT", headers, body: file });
  if (!put.ok) throw new Error(`the upload URL answered ${put.status}: ${await put.text()}`);
  for (let attempt = 0; attempt < 60; attempt += 1) {
    const upload = await expectJson(await api("GET", `/v1/uploads/${reservation.image_id}`));
    if (upload.status === "ready") return upload.image;
    if (upload.status === "failed") throw new Error(upload.error);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error("the upload is still pending after a minute");
}

async function uploadAll(files) {
  for (const file of files) {
    try {
      const image = await upload(file);
      say(`Uploaded ${image.name} as ${image.id}.`);
    } catch (error) {
      say(`Could not upload ${file.name}: ${error.message}`, true);
      return;
    }
  }
  await refresh();
}

// One image: its actions, and a form for any endpoint, built from the OpenAPI description.
async function open(id) {
  state.current = state.images.find((image) => image.id === id);
  document.querySelectorAll(".thumb").forEach((card) =>
    card.classList.toggle("selected", card.dataset.id === id));
  $("#detail").hidden = false;
  showImage(state.current);
  $("#result-image").hidden = true;
  $("#result-json").textContent = "";
  $("#result-status").textContent = "";
  $("#source").removeAttribute("src");
  revoke(state.detailUrls);
  try {
    $("#source").src = await imageUrl(id, state.detailUrls);
  } catch (error) {
    say(`Could not download ${id}: ${error.message}`, true);
  }
  $("#detail").scrollIntoView({ behavior: "smooth" });
}

function showImage(image) {
  $("#detail-title").textContent =
    `${image.name} — ${image.id} (${image.format}, ${image.width}×${image.height}, ${humanSize(image.size)})`;
  const link = $("#public-url");
  link.textContent = image.url || "none: publish to get one";
  if (image.url) link.href = image.url; else link.removeAttribute("href");
}

function resolve(node) {
  let resolved = node;
  while (resolved && resolved.$ref) {
    resolved = resolved.$ref.replace(/^#\//, "").split("/").reduce((at, part) => at[part], state.spec);
  }
  return resolved || {};
}

// The operations on one image that the form can run, in the description's order.
function imageOperations() {
  const operations = [];
  for (const [path, item] of Object.entries(state.spec.paths)) {
    if (!path.includes("{image_id}")) continue;
    for (const method of ["get", "post", "put", "delete"]) {
      const operation = item[method];
      if (!operation || OWN_BUTTONS.has(operation.operationId)) continue;
      const parameters = [...(item.parameters || []), ...(operation.parameters || [])].map(resolve);
      operations.push({ path, method, operation, parameters });
    }
  }
  return operations;
}

function typeOf(schema) {
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  return type || "string";
}

function field(name, schema, required, where) {
  const label = document.createElement("label");
  label.textContent = `${name}${required ? " *" : ""}`;
  label.title = schema.description || "";
  let input;
  const type = typeOf(schema);
  if (schema.enum) {
    input = document.createElement("select");
    input.append(new Option(schema.default !== undefined ? `(default ${schema.default})` : "", ""));
    schema.enum.forEach((value) => input.append(new Option(value, value)));
  } else if (type === "array" || type === "object") {
    input = document.createElement("textarea");
    input.placeholder = "JSON";
  } else if (type === "boolean") {
    input = document.createElement("select");
    ["", "true", "false"].forEach((value) => input.append(new Option(value, value)));
  } else {
    input = document.createElement("input");
    input.type = type === "integer" || type === "number" ? "number" : "text";
    if (type === "number") input.step = "any";
    const bounds = [schema.minimum, schema.maximum].map((v) => (v === undefined ? "" : v));
    input.placeholder = [
      schema.default !== undefined ? `default ${schema.default}` : "",
      bounds.some((v) => v !== "") ? `${bounds[0]}…${bounds[1]}` : "",
      schema.maxLength ? `up to ${schema.maxLength} chars` : "",
    ].filter(Boolean).join(", ");
  }
  input.name = name;
  input.dataset.type = type;
  input.dataset.where = where;
  label.htmlFor = input.id = `field-${where}-${name}`;
  $("#op-form").append(label, input);
}

function buildForm() {
  const chosen = imageOperations()[$("#operation").value];
  const form = $("#op-form");
  form.replaceChildren();
  $("#operation-summary").textContent = chosen.operation.summary || "";
  for (const parameter of chosen.parameters) {
    if (parameter.in === "path") continue;
    field(parameter.name, resolve(parameter.schema), parameter.required, parameter.in);
  }
  const body = resolve(chosen.operation.requestBody);
  const schema = resolve(body.content && body.content["application/json"] && body.content["application/json"].schema);
  const required = new Set(schema.required || []);
  for (const [name, property] of Object.entries(schema.properties || {})) {
    field(name, resolve(property), required.has(name), "body");
  }
}

function formValues() {
  const values = { query: new URLSearchParams(), header: {}, body: {} };
  for (const input of $("#op-form").querySelectorAll("input, select, textarea")) {
    if (input.value === "") continue;
    const type = input.dataset.type;
    let value = input.value;
    if (type === "integer" || type === "number") value = Number(value);
    else if (type === "boolean") value = value === "true";
    else if (type === "array" || type === "object") value = JSON.parse(value);
    if (input.dataset.where === "query") values.query.append(input.name, value);
    else if (input.dataset.where === "header") values.header[input.name] = String(value);
    else values.body[input.name] = value;
  }
  return values;
}

async function runOperation() {
  const chosen = imageOperations()[$("#operation").value];
  let values;
  try {
    values = formValues();
  } catch (error) {
    say(`A JSON field is not valid JSON: ${error.message}`, true);
    return;
  }
  const query = values.query.toString();
  const path = chosen.path.replace("{image_id}", state.current.id) + (query ? `?${query}` : "");
  const hasBody = Boolean(chosen.operation.requestBody);
  say(`${chosen.method.toUpperCase()} ${path}…`);
  const response = await api(chosen.method.toUpperCase(), path,
    hasBody ? { json: values.body, headers: values.header } : { headers: values.header });
  $("#result-status").textContent = `${response.status} ${response.statusText}`;
  const resultImage = $("#result-image");
  resultImage.hidden = true;
  const type = response.headers.get("content-type") || "";
  if (type.startsWith("image/")) {
    resultImage.src = URL.createObjectURL(await response.blob());
    state.detailUrls.push(resultImage.src);
    resultImage.hidden = false;
    $("#result-json").textContent = "";
  } else {
    const text = await response.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON */ }
    $("#result-json").textContent = shown;
    const result = response.ok && text ? JSON.parse(text) : null;
    // A new Image: show it beside its source, and in the grid.
    if (result && result.id && result.format && result.width) {
      resultImage.src = await imageUrl(result.id, state.detailUrls);
      resultImage.hidden = false;
      refresh();
    }
  }
  const outcome = response.ok ? "answered" : "failed with";
  say(`${chosen.operation.operationId} ${outcome} ${response.status}.`, !response.ok);
}

async function changeImage(action) {
  const id = state.current.id;
  try {
    const image = await expectJson(await api("POST", `/v1/images/${id}/${action}`));
    state.current = image;
    showImage(image);
    say(`${action === "publish" ? "Published" : "Unpublished"} ${id}.`);
    await refresh();
  } catch (error) {
    say(`Could not ${action} ${id}: ${error.message}`, true);
  }
}

// Delete asks twice, in place, rather than through a dialog.
async function deleteImage() {
  const button = $("#delete");
  if (!button.dataset.armed) {
    button.dataset.armed = "yes";
    button.textContent = "Click again to delete";
    return;
  }
  delete button.dataset.armed;
  button.textContent = "Delete";
  const id = state.current.id;
  const response = await api("DELETE", `/v1/images/${id}`);
  if (response.status !== 204) {
    say(`Could not delete ${id}: ${await problem(response)}`, true);
    return;
  }
  say(`Deleted ${id}.`);
  $("#detail").hidden = true;
  state.current = null;
  await refresh();
}

async function loadDescription() {
  try {
    const response = await fetch(`${base()}/openapi.json`);
    state.spec = await response.json();
  } catch (error) {
    say(`Could not read ${base()}/openapi.json: is the API running there? (${error.message})`, true);
    return;
  }
  const select = $("#operation");
  select.replaceChildren();
  imageOperations().forEach(({ path, method, operation }, index) => {
    select.append(new Option(`${method.toUpperCase()} ${path.replace("/v1/images/{image_id}", "…")} — ${operation.operationId}`, index));
  });
  select.value = imageOperations().findIndex(({ operation }) => operation.operationId === "resizeImage");
  buildForm();
}

function connect() {
  localStorage.setItem("imgforge.base", base());
  $("#docs-link").href = `${base()}/docs`;
  $("#openapi-link").href = `${base()}/openapi.json`;
  $("#stage").textContent = stageOfKey();
  return loadDescription().then(refresh);
}

function setUp() {
  const served = location.protocol === "http:" || location.protocol === "https:";
  $("#api-base").value = localStorage.getItem("imgforge.base") || (served ? location.origin : "http://127.0.0.1:3000");
  $("#key").value = key();
  $("#inline-limit").textContent = humanSize(INLINE_UPLOAD_LIMIT);
  $("#save-key").addEventListener("click", () => {
    localStorage.setItem("imgforge.key", $("#key").value.trim());
    connect();
  });
  $("#forget-key").addEventListener("click", () => {
    localStorage.removeItem("imgforge.key");
    $("#key").value = "";
    $("#grid").replaceChildren();
    say("The key is forgotten.");
  });
  $("#api-base").addEventListener("change", connect);
  $("#refresh").addEventListener("click", refresh);
  $("#file").addEventListener("change", (event) => uploadAll([...event.target.files]));
  const zone = $("#dropzone");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    uploadAll([...event.dataTransfer.files]);
  });
  $("#operation").addEventListener("change", buildForm);
  $("#run-operation").addEventListener("click", runOperation);
  $("#publish").addEventListener("click", () => changeImage("publish"));
  $("#unpublish").addEventListener("click", () => changeImage("unpublish"));
  $("#delete").addEventListener("click", deleteImage);
  $("#copy-url").addEventListener("click", async () => {
    const url = state.current && state.current.url;
    if (!url) { say("This image is not published."); return; }
    try { await navigator.clipboard.writeText(url); say(`Copied ${url}`); } catch { say(url); }
  });
  connect();
}

setUp();
