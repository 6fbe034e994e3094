// One scenario of the Vercel AI SDK (v6) as a client of the mock; prints one JSON line on stdout.
//
//   node client.mjs '{"sdk": "ai-oldest", "base": "http://127.0.0.1:PORT", "key": "...",
//                     "scenario": "send", "chatId": "...", "sessionId": "..."}'
//
// `sdk` is an npm alias of package.json (ai-oldest, ai-newest). Scenarios:
//   send    send a message and read the whole answer
//   stop    send a message; once a tool call's input is available, stop the chat; read to the end
//   resume  reconnect to a running answer (the SDK's default URL) and read it to the end; meanwhile,
//           once its tool call's input is available, reconnect again from the next chunk
//           (?startIndex=N) and continue the message assembled so far, as Chat.resumeStream does
//   idle    reconnect to a chat where nothing runs (the SDK answers null)
// The output: {version, scenario, message, toolStates, errors, ...}. An error never escapes: it is
// reported in `errors` (message and stack), and the exit status is 0 whenever the output was written.
import { readFile } from 'node:fs/promises';

const args = JSON.parse(process.argv[2]);
const { DefaultChatTransport, readUIMessageStream } = await import(args.sdk);
// The version actually loaded: the package.json of the package that import() resolved.
const manifest = new URL(import.meta.resolve(`${args.sdk}/package.json`));
const { version } = JSON.parse(await readFile(manifest, 'utf8'));

const api = `${args.base}/api/chat`;
const headers = { 'x-api-key': args.key };
const errors = [];
const report = (error) => {
  // readUIMessageStream calls onError and then throws the same error out of the iteration.
  if (!errors.includes(error)) errors.push(error);
};

function transport(startIndex) {
  return new DefaultChatTransport({
    api,
    headers,
    // The mock takes {chatId, sessionId, messages}, not the SDK's default {id, messages, trigger,
    // messageId}; the headers stay the transport's (those above) when none are returned.
    prepareSendMessagesRequest: ({ id, messages }) => ({
      body: { chatId: id, sessionId: args.sessionId, messages },
    }),
    // Without this hook the SDK reconnects to `${api}/${chatId}/stream` (the mock replays from 0).
    prepareReconnectToStreamRequest:
      startIndex === undefined
        ? undefined
        : ({ id }) => ({ api: `${api}/${id}/stream?startIndex=${startIndex}` }),
  });
}

const toolParts = (message) => message.parts.filter((part) => part.type.startsWith('tool-'));
const hasToolIn = (message, state) => toolParts(message).some((part) => part.state === state);

// Reads a chunk stream into UI message snapshots as the SDK's chat does, erroring on the first error
// (a chunk the transport's schema refuses, an `error` chunk, a chunk that fits no part).
async function read(stream, { message, onSnapshot } = {}) {
  const toolStates = []; // "tool-NAME:STATE" each time a tool part's state changes
  let last = message;
  try {
    for await (const snapshot of readUIMessageStream({
      message,
      stream,
      onError: report,
      terminateOnError: true,
    })) {
      last = snapshot;
      for (const part of toolParts(snapshot)) {
        const seen = `${part.type}:${part.state}`;
        if (toolStates.findLast((s) => s.startsWith(`${part.type}:`)) !== seen) toolStates.push(seen);
      }
      if (onSnapshot) await onSnapshot(snapshot);
    }
  } catch (error) {
    report(error);
  }
  return { message: last, toolStates };
}

const userMessage = {
  id: `user-${Date.now()}`,
  role: 'user',
  parts: [{ type: 'text', text: 'Find my next tour dates' }],
};
const send = () =>
  transport().sendMessages({
    chatId: args.chatId,
    messages: [userMessage],
    abortSignal: undefined,
    trigger: 'submit-message',
    messageId: undefined,
  });

const out = { sdk: args.sdk, version, scenario: args.scenario };
try {
  if (args.scenario === 'send') {
    Object.assign(out, await read(await send()));
  } else if (args.scenario === 'stop') {
    Object.assign(out, await read(await send(), {
      onSnapshot: async (snapshot) => {
        if (out.stop === undefined && hasToolIn(snapshot, 'input-available')) {
          out.stop = null; // at most one stop, even while this one is under way
          const response = await fetch(`${api}/${args.chatId}/stop`, { method: 'POST', headers });
          out.stop = { status: response.status, body: await response.json() };
        }
      },
    }));
  } else if (args.scenario === 'resume') {
    const chunks = []; // every chunk of the first reconnect, in order: chunks[i] is chunk i of the answer
    const stream = await transport().reconnectToStream({ chatId: args.chatId });
    if (stream === null) throw new Error('nothing to resume: the answer ended before the reconnect');
    const recorded = stream.pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          chunks.push(chunk);
          controller.enqueue(chunk);
        },
      }),
    );
    let resumed;
    Object.assign(out, await read(recorded, {
      onSnapshot: (snapshot) => {
        if (resumed === undefined && hasToolIn(snapshot, 'input-available')) {
          // This snapshot is the message right after the `tool-input-available` chunk: go on from it.
          const startIndex = chunks.findIndex((chunk) => chunk.type === 'tool-input-available') + 1;
          const message = structuredClone(snapshot);
          resumed = transport(startIndex)
            .reconnectToStream({ chatId: args.chatId })
            .then((tail) => (tail === null ? { message: null } : read(tail, { message })))
            .then((result) => ({ startIndex, ...result }))
            .catch((error) => {
              report(error);
              return { startIndex };
            });
        }
      },
    }));
    out.resumed = await resumed;
  } else if (args.scenario === 'idle') {
    out.reconnect = await transport().reconnectToStream({ chatId: args.chatId });
  } else {
    throw new Error(`unknown scenario ${args.scenario}`);
  }
} catch (error) {
  report(error);
}
out.errors = errors.map((error) => ({ message: String(error?.message ?? error), stack: error?.stack }));
process.stdout.write(`${JSON.stringify(out)}\n`);
