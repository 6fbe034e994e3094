// The demo chat: what a web app does with the Recoup chat API, in plain browser JavaScript.
"use strict";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const state = { sessionId: null, chatId: null, messages: [] };

$("api").value = params.get("api") || location.origin;
$("key").value = params.get("key") || "demo-key-a";

function api() {
  return $("api").value.replace(/\/+$/, "");
}

function log(text) {
  const item = document.createElement("li");
  item.textContent = text;
  $("log").appendChild(item);
}

function setStatus(name, text) {
  $("status").dataset.state = name;
  $("status").textContent = text || name;
}

async function call(method, path, body, extraHeaders) {
  const headers = { "x-api-key": $("key").value, ...extraHeaders };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(api() + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  log(`${method} ${path} -> ${response.status}`);
  return response;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return `${response.status} ${body.error || body.message || JSON.stringify(body)}`;
  } catch {
    return `${response.status}`;
  }
}

// Offer the keys of the mock's accounts (the admin API is on the same server). The admin API
// answers only the mock's own pages (unless started with --admin-cors-origin), so a page on
// another origin does not ask.
async function loadKeys() {
  try {
    if (new URL(api()).origin !== location.origin) {
      log("cannot list keys: the mock's admin API answers only its own pages (/demo/ on the mock)");
      return;
    }
    const response = await fetch(api() + "/__mock/state");
    if (!response.ok) {
      // --no-admin (404), --admin-token (401), or a Host the admin API refuses (403).
      log(`cannot list keys: ${await errorText(response)}`);
      return;
    }
    const body = await response.json();
    for (const account of body.accounts) {
      for (const key of account.apiKeys) {
        const option = document.createElement("option");
        option.value = key;
        option.label = account.id;
        $("keys").appendChild(option);
      }
    }
  } catch (error) {
    log(`cannot list keys: ${error}`);
  }
}

$("new-session").addEventListener("click", async () => {
  const response = await call("POST", "/api/sessions", { title: "Demo page" });
  if (!response.ok) {
    setStatus("error", await errorText(response));
    return;
  }
  const body = await response.json();
  state.sessionId = body.session.id;
  state.chatId = body.chat.id;
  state.messages = [];
  $("session").textContent = state.sessionId;
  $("chat").textContent = state.chatId;
  $("send").disabled = false;
  setStatus("ready");
  await showChats();
});

$("send").addEventListener("click", async () => {
  const text = $("message").value;
  state.messages.push({ id: `user-${Date.now()}`, role: "user", parts: [{ type: "text", text }] });
  $("stop-result").textContent = "-";
  $("send").disabled = true;
  const builder = new MessageBuilder();
  const view = new MessageView($("answer"), builder);
  const response = await call("POST", "/api/chat", {
    sessionId: state.sessionId,
    chatId: state.chatId,
    messages: state.messages,
  });
  if (!response.ok) {
    setStatus("error", await errorText(response));
    $("send").disabled = false;
    return;
  }
  setStatus("streaming");
  $("stop").disabled = false;
  let outcome = "ended";
  try {
    await readStream(response, (chunk) => {
      const part = builder.apply(chunk);
      if (part) view.render(part);
      // A stopped or failed answer still ends with `finish`, as the service's does: the first
      // terminal chunk says how the answer ended.
      if (chunk.type === "abort" && outcome === "ended") outcome = "stopped";
      else if (chunk.type === "error" && outcome === "ended") outcome = `error: ${chunk.errorText}`;
      else if (chunk.type === "finish" && outcome === "ended") outcome = "finished";
    });
  } catch (error) {
    outcome = `error: ${error}`; // the connection broke
  }
  // The stream ended: after `abort` and `finish` when Stop stopped it.
  view.end();
  // As the AI SDK's useChat does, the answer (finished or cut short) joins the conversation.
  if (builder.hasContent()) state.messages.push(builder.message);
  setStatus(outcome.startsWith("error") ? "error" : outcome, outcome);
  $("stop").disabled = true;
  $("send").disabled = false;
  await showChats();
});

$("stop").addEventListener("click", async () => {
  const prefer = $("stop-prefer").value;
  const response = await call("POST", `/api/chat/${state.chatId}/stop`, undefined, prefer ? { prefer } : {});
  if (response.ok) {
    const body = await response.json();
    $("stop-result").textContent = `${response.status} stopped: ${body.stopped}`;
  } else {
    $("stop-result").textContent = await errorText(response);
  }
});

loadKeys();
