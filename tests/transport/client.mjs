// The Recoup frontend's transport as a client of the mock: one scenario per run, one JSON line out.
//
//   node client.mjs '{"pair": "frontend", "base": "http://127.0.0.1:PORT", "key": "...",
//                     "scenario": "send", "chatId": "...", "sessionId": "..."}'
//
// `pair` is a directory beside this file with its own node_modules: `frontend` (@workflow/ai 4.2.0
// over ai 6.0.241, what recoupable/app ships) or `newest` (@workflow/ai ^6 over ai ^6).
// The transport is configured as the frontend's `lib/chat/createWorkflowChatTransport.ts` does: the
// API key as a Bearer token, the body {messages, chatId, sessionId}, the reconnect URL
// /api/chat/{chatId}/stream, and a 204 there read as "nothing to resume" (the stream ends as if
// finished, so the transport stops reconnecting). Scenarios:
//   send    send a message and read the whole answer
//   stop    send; once a tool call's input is available, stop the chat server-side (no local abort);
//           read to the end
//   second  send; once the answer streams, send a second message (a second tab); read both to the end
//   resume  reconnect to the chat's answer, as a reloaded page does, and read it to the end
// The output: {pair, versions, scenario, message, requests, runIds, errors, ...}: `requests` lists
// every request the transport made, with its answer's status. An error never escapes: it is
// reported in `errors`, and the exit status is 0 whenever the output was written.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const args = JSON.parse(process.argv[2]);
const pairDir = new URL(`./${args.pair}/`, import.meta.url);
const require = createRequire(new URL('package.json', pairDir));
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);
// The version installed: the package's manifest (not every package exports its package.json).
const version = async (name) =>
  JSON.parse(await readFile(new URL(`node_modules/${name}/package.json`, pairDir), 'utf8')).version;
const { WorkflowChatTransport } = await load('@workflow/ai');
const { readUIMessageStream } = await load('ai');

const api = `${args.base}/api/chat`;
const headers = { Authorization: `Bearer ${args.key}` };
const errors = [];
const report = (error) => {
  if (!errors.includes(error)) errors.push(error);
};
const requests = []; // {method, path, status}, in the order they were answered
const FINISHED = 'data: {"type":"finish"}\n\n';

async function recordingFetch(input, init) {
  const url = new URL(String(input));
  const response = await fetch(input, init);
  requests.push({ method: init?.method ?? 'GET', path: url.pathname + url.search, status: response.status });
  if (response.status === 204 && url.pathname.endsWith('/stream')) {
    // Nothing to resume: an empty stream that says it is finished, so the transport ends quietly.
    return new Response(FINISHED, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  }
  return response;
}

const runIds = [];
function transport() {
  return new WorkflowChatTransport({
    api,
    fetch: recordingFetch,
    onChatSendMessage: (response) => {
      runIds.push(response.headers.get('x-workflow-run-id'));
    },
    prepareSendMessagesRequest: ({ id, messages }) => ({
      api,
      headers,
      body: { messages, chatId: id, sessionId: args.sessionId },
    }),
    prepareReconnectToStreamRequest: ({ id }) => ({
      api: `${api}/${encodeURIComponent(id)}/stream`,
      headers,
    }),
  });
}

const toolParts = (message) => message.parts.filter((part) => part.type.startsWith('tool-'));
const hasToolIn = (message, state) => toolParts(message).some((part) => part.state === state);

// Reads a chunk stream into UI message snapshots as the frontend's useChat does, erroring on the
// first error (a chunk the schema refuses, an `error` chunk, a chunk that fits no part).
async function read(stream, onSnapshot) {
  const chunks = [];
  const counted = stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        chunks.push(chunk.type);
        controller.enqueue(chunk);
      },
    }),
  );
  let last = null;
  try {
    for await (const snapshot of readUIMessageStream({ stream: counted, onError: report, terminateOnError: true })) {
      last = snapshot;
      if (onSnapshot) await onSnapshot(snapshot);
    }
  } catch (error) {
    report(error);
  }
  return { message: last, chunks };
}

const userMessage = (text) => ({
  id: `user-${Date.now()}-${Math.random()}`,
  role: 'user',
  parts: [{ type: 'text', text }],
});
const send = (text) =>
  transport().sendMessages({
    chatId: args.chatId,
    messages: [userMessage(text)],
    abortSignal: undefined,
    trigger: 'submit-message',
    messageId: undefined,
  });

const out = {
  pair: args.pair,
  versions: { workflowAi: await version('@workflow/ai'), ai: await version('ai') },
  scenario: args.scenario,
};
try {
  if (args.scenario === 'send') {
    Object.assign(out, await read(await send('Find my next tour dates')));
  } else if (args.scenario === 'stop') {
    Object.assign(out, await read(await send('Find my next tour dates'), async (snapshot) => {
      if (out.stop === undefined && hasToolIn(snapshot, 'input-available')) {
        out.stop = null; // at most one stop, even while this one is under way
        const response = await fetch(`${api}/${args.chatId}/stop`, { method: 'POST', headers });
        out.stop = { status: response.status, body: await response.json() };
      }
    }));
  } else if (args.scenario === 'second') {
    let second;
    const first = await read(await send('Find my next tour dates'), (snapshot) => {
      if (second === undefined && snapshot.parts.length > 0) {
        second = send('And the venues?').then((stream) => read(stream));
      }
    });
    out.message = first.message;
    out.chunks = first.chunks;
    out.second = second === undefined ? null : await second;
  } else if (args.scenario === 'resume') {
    Object.assign(out, await read(await transport().reconnectToStream({ chatId: args.chatId })));
  } else {
    throw new Error(`unknown scenario ${args.scenario}`);
  }
} catch (error) {
  report(error);
}
out.requests = requests;
out.runIds = runIds;
out.errors = errors.map((error) => ({ message: String(error?.message ?? error), stack: error?.stack }));
process.stdout.write(`${JSON.stringify(out)}\n`);
