// Replays a code export (GET /api/sessions/:id/code/export, JSON on stdin) with the npm yjs
// package, as any Yjs client would offline, and prints the resulting code and language.
import * as Y from "yjs";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const exported = JSON.parse(input);
const doc = new Y.Doc();
for (const entry of exported.updates) Y.applyUpdate(doc, Buffer.from(entry.update, "base64"));
console.log(JSON.stringify({ code: doc.getText("code").toString(), language: doc.getMap("meta").get("language") }));
