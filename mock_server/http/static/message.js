// Reading an AI SDK v6 UI message stream in the browser: its events, the assistant message its
// chunks build (as the SDK's client builds it), and a view of that message's parts. The demo page
// (demo.js) uses it; a web app can read it as an example of what `useChat` does for it.
"use strict";

// Read an AI SDK UI message stream: `data: {json}` events, ending with `data: [DONE]`.
async function readStream(response, onChunk) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (data && data !== "[DONE]") onChunk(JSON.parse(data));
    }
  }
}

// The assistant message of a stream, built from its chunks the way the AI SDK's client builds a
// UIMessage's parts (`assemble` in mock_server/domain/chunks.py does the same in Python):
//   {type: "step-start"}
//   {type: "reasoning" | "text", text, state: "streaming" | "done"}
//   {type: "tool-{name}", toolCallId, state, input, output | errorText}, where state is
//     input-streaming -> input-available -> output-available | output-error
//   {type: "data-{name}", data}
class MessageBuilder {
  constructor() {
    this.message = { id: "", role: "assistant", parts: [] };
    this.byId = new Map(); // a text or reasoning id, or a toolCallId -> its part
    this.toolInput = new Map(); // toolCallId -> the input's JSON text streamed so far
  }

  // Apply one chunk; return the part it added or changed (null when none).
  apply(chunk) {
    const type = String(chunk.type);
    if (type === "start") {
      if (chunk.messageId) this.message.id = chunk.messageId;
      return null;
    }
    if (type === "start-step") return this.add(null, { type: "step-start" });
    if (type === "text-start" || type === "reasoning-start") {
      return this.add(chunk.id, { type: type.slice(0, -"-start".length), text: "", state: "streaming" });
    }
    if (type === "text-delta" || type === "reasoning-delta") {
      const part = this.byId.get(chunk.id);
      if (!part) return null;
      part.text += chunk.delta;
      return part;
    }
    if (type === "text-end" || type === "reasoning-end") {
      const part = this.byId.get(chunk.id);
      if (!part) return null;
      part.state = "done";
      return part;
    }
    if (type === "tool-input-start") {
      this.toolInput.set(chunk.toolCallId, "");
      const part = { type: `tool-${chunk.toolName}`, toolCallId: chunk.toolCallId, state: "input-streaming" };
      return this.add(chunk.toolCallId, part);
    }
    if (type === "tool-input-available" && !this.byId.has(chunk.toolCallId)) {
      // A tool call whose input did not stream arrives whole, as the SDK's client accepts it.
      const part = { type: `tool-${chunk.toolName}`, toolCallId: chunk.toolCallId, state: "input-available" };
      return this.add(chunk.toolCallId, Object.assign(part, { input: chunk.input }));
    }
    if (type.startsWith("tool-")) return this.updateTool(chunk);
    if (type.startsWith("data-")) return this.add(null, { type, data: chunk.data });
    return null; // finish-step, finish, abort, error: no part
  }

  add(id, part) {
    if (id !== null) this.byId.set(id, part);
    this.message.parts.push(part);
    return part;
  }

  updateTool(chunk) {
    const id = chunk.toolCallId;
    const part = this.byId.get(id);
    if (!part) return null;
    if (chunk.type === "tool-input-delta") {
      this.toolInput.set(id, this.toolInput.get(id) + chunk.inputTextDelta);
    } else if (chunk.type === "tool-input-available") {
      Object.assign(part, { state: "input-available", input: chunk.input });
    } else if (chunk.type === "tool-output-available") {
      Object.assign(part, { state: "output-available", output: chunk.output });
    } else if (chunk.type === "tool-output-error") {
      // A call cancelled while its input streamed keeps what of the input had arrived.
      if (!("input" in part)) part.input = parseOrNull(this.toolInput.get(id));
      Object.assign(part, { state: "output-error", errorText: chunk.errorText });
    } else {
      return null;
    }
    return part;
  }

  hasContent() {
    return this.message.parts.some((part) => part.type !== "step-start");
  }
}

function parseOrNull(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// The view of one message: an element per part, in the parts' order, updated in place when its
// part changes. Elements carry data-part (reasoning, tool, text, data), data-state, data-tool and
// data-name, for styling and for tests.
const TOOL_BADGES = { "input-available": "running…" };

function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

function pretty(value) {
  return value === undefined ? "" : JSON.stringify(value, null, 2);
}

class MessageView {
  constructor(container, builder) {
    this.container = container;
    this.builder = builder;
    this.elements = new Map(); // part -> its element
    this.live = true; // false once the stream has ended: nothing is still coming
    container.replaceChildren();
  }

  render(part) {
    if (part.type === "step-start") return; // steps are not shown
    let element = this.elements.get(part);
    if (!element) {
      element = this.create(part);
      this.elements.set(part, element);
      this.container.appendChild(element);
    }
    if (part.type === "reasoning") this.updateReasoning(element, part);
    else if (part.type === "text") this.updateText(element, part);
    else if (part.type.startsWith("tool-")) this.updateTool(element, part);
    else element.querySelector("pre").textContent = pretty(part.data);
  }

  // The stream ended (finished, stopped or failed): drop the marks that say more is coming.
  end() {
    this.live = false;
    for (const part of this.elements.keys()) this.render(part);
  }

  create(part) {
    if (part.type === "reasoning") {
      const attributes = { class: "part reasoning", "data-part": "reasoning" };
      return el("div", attributes, el("div", { class: "label" }), el("div", { class: "body" }));
    }
    if (part.type === "text") return el("div", { class: "part text", "data-part": "text" });
    if (part.type.startsWith("tool-")) {
      const name = part.type.slice("tool-".length);
      const section = (kind, label) =>
        el("div", { class: `section ${kind}`, hidden: "" }, el("div", { class: "label" }, label), el("pre"));
      return el(
        "div",
        { class: "part tool", "data-part": "tool", "data-tool": name, "data-tool-call-id": part.toolCallId },
        el("div", { class: "head" }, el("span", { class: "name" }, name), el("span", { class: "badge" })),
        section("input", "Input"),
        section("output", "Output"),
        section("error", "Error"),
      );
    }
    const name = part.type.slice("data-".length);
    const attributes = { class: "part data", "data-part": "data", "data-name": name };
    return el("div", attributes, el("div", { class: "label" }, part.type), el("pre"));
  }

  updateReasoning(element, part) {
    element.dataset.state = part.state;
    const open = this.live && part.state === "streaming";
    element.querySelector(".label").textContent = open ? "Reasoning…" : "Reasoning";
    element.querySelector(".body").textContent = part.text;
  }

  updateText(element, part) {
    element.dataset.state = part.state;
    element.textContent = part.text;
  }

  updateTool(element, part) {
    element.dataset.state = part.state;
    const badge = element.querySelector(".badge");
    badge.textContent = (this.live && TOOL_BADGES[part.state]) || part.state;
    // While the input streams it is not JSON yet: show the text that has arrived.
    const input =
      part.state === "input-streaming" ? this.builder.toolInput.get(part.toolCallId) : pretty(part.input);
    this.show(element, ".input", input);
    this.show(element, ".output", part.state === "output-available" ? pretty(part.output) : null);
    this.show(element, ".error", part.state === "output-error" ? part.errorText : null);
  }

  show(element, selector, text) {
    const section = element.querySelector(selector);
    section.hidden = text === null || text === undefined;
    section.querySelector("pre").textContent = text ?? "";
  }
}
