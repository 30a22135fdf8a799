// The npm y-websocket provider and yjs, unchanged, against the shared editor.
// node collab.mjs <ws base URL> <session id> <scenario> <token> [<token> ...]
// Prints one JSON object with what each client saw.
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import WebSocket from "ws";

const [base, room, scenario, ...tokens] = process.argv.slice(2);
// "two-servers": the second base URL comes first among the arguments after the scenario.
const otherBase = scenario === "two-servers" ? tokens.shift() : base;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const waitFor = async (condition, ms = 10000) => {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (condition()) return true;
    await sleep(20);
  }
  return condition();
};
const client = (token, url = base) => {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket,
    params: { token },
    disableBc: true,
  });
  const seen = { doc, provider, code: doc.getText("code"), meta: doc.getMap("meta"), synced: false,
    closes: [], denied: [] };
  provider.on("sync", (synced) => { seen.synced = synced; });
  provider.on("connection-close", (event) => { seen.closes.push([event?.code, event?.reason]); });
  provider.messageHandlers[2] = (_encoder, decoder) => {
    // y-websocket only logs a refusal: the app sees it here (permission denied + reason).
    decoder.arr[decoder.pos++];
    const length = decoder.arr[decoder.pos++];
    seen.denied.push(new TextDecoder().decode(decoder.arr.slice(decoder.pos, decoder.pos + length)));
    decoder.pos += length;
  };
  return seen;
};
const done = (result) => {
  console.log(JSON.stringify(result));
  process.exit(0);
};

if (scenario === "converge") {
  const [a, b] = [client(tokens[0]), client(tokens[1])];
  await waitFor(() => a.synced && b.synced);
  // In the same tick: truly concurrent edits.
  a.code.insert(0, "def solve():\n");
  b.code.insert(0, "# candidate notes\n");
  a.provider.awareness.setLocalStateField("user", { name: "I am the host", id: "forged" });
  a.provider.awareness.setLocalStateField("cursor", { line: 1 });
  await waitFor(() => a.code.toString() === b.code.toString() && a.code.length > 20);
  await waitFor(() => b.provider.awareness.getStates().get(a.doc.clientID)?.cursor);
  // A delete-only update (it adds no struct) reaches the others and is kept too.
  const bug = a.code.toString().indexOf("def ");
  a.code.delete(bug, 4);
  await waitFor(() => !b.code.toString().includes("def "));
  const late = client(tokens[1]);
  await waitFor(() => late.synced && late.code.toString() === a.code.toString());
  done({
    a: a.code.toString(), b: b.code.toString(), late: late.code.toString(),
    language: late.meta.get("language"),
    awarenessOfA: b.provider.awareness.getStates().get(a.doc.clientID) ?? null,
  });
} else if (scenario === "two-servers") {
  // One client on each web process: they hear each other through Redis.
  const [a, b] = [client(tokens[0]), client(tokens[1], otherBase)];
  await waitFor(() => a.synced && b.synced);
  a.code.insert(0, "from process one\n");
  await waitFor(() => b.code.toString().includes("from process one"));
  b.code.insert(b.code.length, "from process two\n");
  a.provider.awareness.setLocalStateField("cursor", { line: 2 });
  await waitFor(() => a.code.toString().includes("from process two"));
  await waitFor(() => b.provider.awareness.getStates().get(a.doc.clientID)?.cursor);
  done({
    a: a.code.toString(), b: b.code.toString(),
    awarenessOfA: b.provider.awareness.getStates().get(a.doc.clientID) ?? null,
  });
} else if (scenario === "offline") {
  // One edits while disconnected, the other meanwhile online; then it reconnects.
  const [a, b] = [client(tokens[0]), client(tokens[1])];
  await waitFor(() => a.synced && b.synced);
  a.provider.disconnect();
  await waitFor(() => !a.provider.wsconnected);
  a.code.insert(0, "written offline\n");
  b.code.insert(0, "written online\n");
  await sleep(300);
  const whileAway = b.code.toString();
  a.provider.connect();
  await waitFor(() => a.code.toString() === b.code.toString() && a.code.length > 30);
  done({ a: a.code.toString(), b: b.code.toString(), whileAway });
} else if (scenario === "refused") {
  const c = client(tokens[0]);
  await waitFor(() => c.closes.length > 0 || c.synced, 5000);
  await sleep(700); // a client told 44xx does not come back
  done({ synced: c.synced, closes: c.closes, shouldConnect: c.provider.shouldConnect });
} else if (scenario === "read-only") {
  const c = client(tokens[0]);
  await waitFor(() => c.synced && c.code.length > 0);
  const before = c.code.toString();
  c.code.insert(0, "late edit ");
  await waitFor(() => c.denied.length > 0, 5000);
  done({ before, denied: c.denied });
} else if (scenario === "write") {
  const c = client(tokens[0]);
  await waitFor(() => c.synced);
  c.code.insert(c.code.length, tokens[1] ?? "x");
  await sleep(500);
  done({ code: c.code.toString() });
}
