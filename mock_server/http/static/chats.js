// The session's chats, as the Recoup frontend lists them: each with its unread mark, opened (and
// so marked read), renamed, deleted (never the session's only one), or a new one added.
"use strict";

function openChat(chatId, messages) {
  state.chatId = chatId;
  state.messages = messages;
  $("chat").textContent = chatId;
  $("answer").replaceChildren();
}

async function showChats() {
  const response = await call("GET", `/api/sessions/${state.sessionId}/chats`);
  if (!response.ok) return;
  const { chats } = await response.json();
  $("chats").replaceChildren(
    ...chats.map((chat) => {
      const item = document.createElement("li");
      item.dataset.chatId = chat.id;
      item.dataset.unread = String(chat.hasUnread);
      item.dataset.selected = String(chat.id === state.chatId);
      const open = document.createElement("button");
      open.className = "open";
      open.textContent = chat.title;
      open.addEventListener("click", () => selectChat(chat.id));
      const dot = document.createElement("span");
      dot.className = "unread";
      dot.title = "an answer you have not read";
      item.append(open, dot);
      return item;
    }),
  );
  for (const id of ["new-chat", "rename-chat", "delete-chat"]) $(id).disabled = false;
}

async function selectChat(chatId) {
  const response = await call("GET", `/api/sessions/${state.sessionId}/chats/${chatId}`);
  if (!response.ok) return;
  const body = await response.json();
  openChat(chatId, body.messages);
  await call("POST", `/api/sessions/${state.sessionId}/chats/${chatId}/read`);
  await showChats();
}

async function chatsResult(response) {
  $("chats-result").textContent = response.ok ? "" : await errorText(response);
  if (response.ok) await showChats();
  return response.ok;
}

$("new-chat").addEventListener("click", async () => {
  const response = await call("POST", `/api/sessions/${state.sessionId}/chats`, {});
  if (response.ok) openChat((await response.clone().json()).chat.id, []);
  await chatsResult(response);
});

$("rename-chat").addEventListener("click", async () => {
  const path = `/api/sessions/${state.sessionId}/chats/${state.chatId}`;
  await chatsResult(await call("PATCH", path, { title: $("chat-title").value }));
});

$("delete-chat").addEventListener("click", async () => {
  const response = await call("DELETE", `/api/sessions/${state.sessionId}/chats/${state.chatId}`);
  if (await chatsResult(response)) {
    const first = document.querySelector("#chats li");
    if (first) await selectChat(first.dataset.chatId);
  }
});
