// Generates src/openapi.ts from the committed snapshot openapi.json with openapi-typescript.
// `npm run openapi:types`; the unit test `openapi.test.ts` fails when the committed file is
// not what this script produces from the snapshot.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

const root = new URL("../", import.meta.url);

/** The TypeScript text openapi-typescript makes of the snapshot. */
export async function generate() {
  const doc = JSON.parse(await readFile(new URL("openapi.json", root), "utf8"));
  const ast = await openapiTS(doc, { silent: true });
  return COMMENT_HEADER + astToString(ast);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(new URL("src/openapi.ts", root), await generate());
  console.log("wrote src/openapi.ts");
}
