// The stock npm `piston-client`, unchanged: node piston.mjs <server URL> <language> <source>.
// Prints {runtimes, result} as JSON for the Python test to read (result: what execute gave,
// or the error it threw).
import piston from "piston-client";

const [server, language, source] = process.argv.slice(2);
const client = piston({ server });
const runtimes = await client.runtimes();
let result;
try {
  result = await client.execute(language, source);
} catch (error) {
  result = { thrown: String(error) };
}
console.log(JSON.stringify({ runtimes, result }));
