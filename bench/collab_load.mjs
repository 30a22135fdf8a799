// The shared editor's load generator (bench/collab.py runs it): the npm y-websocket provider
// and yjs, as browsers run them, against one y-websocket server (ours or the reference).
// node bench/collab_load.mjs <plan.json>; plan: {rooms: [{url, room, params: [a, b]}], rate,
// seconds, warmupS, serverPid, clockTicks, out}. Each room gets two editors typing `rate` updates a
// second each (with jitter); a peer's observer times each update from insert to arrival, and
// the server's CPU and memory are read from /proc. Writes its findings as JSON to plan.out.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";

// The packages are pinned in tests/package.json (installed by `make setup`).
const require = createRequire(new URL("../tests/package.json", import.meta.url));
const Y = require("yjs");
const { WebsocketProvider } = require("y-websocket");
const WebSocket = require("ws");

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const TICK = plan.clockTicks; // of /proc/<pid>/stat, a second
const cpuSeconds = (pid) => {
  if (!pid) return null;
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop().trim().split(/\s+/);
  return (Number(fields[11]) + Number(fields[12])) / TICK; // utime + stime
};
const rssKiB = (pid) => {
  if (!pid) return null;
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
  return Number(line.split(/\s+/)[1]);
};

const sentAt = new Map(); // "editor.seq" -> ms
const latencies = [];
const rssBefore = rssKiB(plan.serverPid); // before any room is open
let measuring = false;
let sent = 0;
let received = 0;
const editors = [];

plan.rooms.forEach((spec, roomIndex) => {
  for (let side = 0; side < 2; side++) {
    const id = roomIndex * 2 + side;
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(spec.url, spec.room, doc, {
      WebSocketPolyfill: WebSocket,
      params: spec.params[side] ?? {},
      disableBc: true,
    });
    const text = doc.getText("code");
    text.observe((event, transaction) => {
      if (transaction.local) return;
      const now = performance.now();
      for (const op of event.changes.delta) {
        if (typeof op.insert !== "string") continue;
        for (const match of op.insert.matchAll(/\[(\d+)\.(\d+)\]/g)) {
          const key = `${match[1]}.${match[2]}`;
          const started = sentAt.get(key);
          if (started === undefined) continue;
          if (measuring) {
            latencies.push(now - started);
            received++;
          }
        }
      }
    });
    const editor = { id, doc, provider, text, synced: false, seq: 0, closes: [] };
    provider.on("sync", (synced) => { editor.synced = synced; });
    provider.on("connection-close", (event) => { editor.closes.push(event?.code); });
    editors.push(editor);
  }
});

const started = performance.now();
while (editors.some((e) => !e.synced) && performance.now() - started < 60000) await sleep(50);
const unsynced = editors.filter((e) => !e.synced).length;

// Each editor types on its own timer: `rate` a second on average, 0.7x-1.3x jitter.
let typing = true;
const type = async (editor) => {
  while (typing) {
    await sleep((1000 / plan.rate) * (0.7 + Math.random() * 0.6));
    if (!typing) break;
    const key = `${editor.id}.${editor.seq++}`;
    sentAt.set(key, performance.now());
    editor.text.insert(editor.text.length, `[${key}]`);
    if (measuring) sent++;
  }
};
const rssConnected = rssKiB(plan.serverPid);
const loops = editors.map(type);
await sleep(plan.warmupS * 1000);
measuring = true;
const cpuStart = cpuSeconds(plan.serverPid);
const measureStart = performance.now();
await sleep(plan.seconds * 1000);
const cpuEnd = cpuSeconds(plan.serverPid);
const measured = (performance.now() - measureStart) / 1000;
typing = false;
await Promise.all(loops);
await sleep(1500); // the last updates arrive
measuring = false;
const rssActive = rssKiB(plan.serverPid);
// Idle rooms: everyone still connected, nobody typing (awareness renewals only).
await sleep(3000);
const rssIdle = rssKiB(plan.serverPid);
const closes = editors.flatMap((e) => e.closes).filter((code) => code !== undefined);
for (const editor of editors) editor.provider.destroy();
await sleep(2000);
const rssAfterClose = rssKiB(plan.serverPid);

const own = process.cpuUsage();
// To a file: stdout is a pipe, which process.exit() would cut short.
writeFileSync(plan.out, JSON.stringify({
  generatorCpuS: (own.user + own.system) / 1e6, editors: editors.length, unsynced, closes, sent, received, measuredS: measured,
  latenciesMs: latencies, serverCpuS: cpuStart === null ? null : cpuEnd - cpuStart,
  rssKiB: { before: rssBefore, connected: rssConnected, active: rssActive, idle: rssIdle, afterClose: rssAfterClose },
}));
process.exit(0);
