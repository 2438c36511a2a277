// Refreshes the snapshot openapi.json from a running server: PLANBOK_URL (e.g. the URL
// `planbok dev` prints). `npm run openapi:fetch` then regenerates src/openapi.ts.
import { writeFile } from "node:fs/promises";

const base = process.env.PLANBOK_URL;
if (!base) {
  console.error("set PLANBOK_URL to a running planbok server");
  process.exit(2);
}
const res = await fetch(new URL("/v2/openapi.json", base));
if (!res.ok) {
  console.error(`GET /v2/openapi.json: HTTP ${res.status}`);
  process.exit(1);
}
await writeFile(new URL("../openapi.json", import.meta.url), await res.text());
console.log("wrote openapi.json");
