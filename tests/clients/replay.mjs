// Replays a code export (GET /api/sessions/:id/code/export, JSON on stdin) with the npm yjs
// package, as any Yjs client would offline, and prints the resulting code and language (and,
// with --time, how long rebuilding took: the benchmark's reference).
import * as Y from "yjs";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const exported = JSON.parse(input);
const updates = exported.updates.map((entry) => Buffer.from(entry.update, "base64"));
const started = performance.now();
const doc = new Y.Doc();
for (const update of updates) Y.applyUpdate(doc, update);
const code = doc.getText("code").toString();
const ms = Math.round((performance.now() - started) * 10) / 10;
const result = { code, language: doc.getMap("meta").get("language") };
if (process.argv.includes("--time")) result.ms = ms;
console.log(JSON.stringify(result));
