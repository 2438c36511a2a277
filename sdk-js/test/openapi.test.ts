// The committed types are what openapi-typescript makes of the committed snapshot, and the
// SDK's list routes are the document's. (That the snapshot is what the server serves is
// checked by e2e.test.ts.)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { LIST_ROUTES } from "../src/index.js";

const root = new URL("../../", import.meta.url);
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, { responses?: Record<string, { description?: string }> }>>;
}
const doc = JSON.parse(readFileSync(new URL("openapi.json", root), "utf8")) as Doc;

test("src/openapi.ts is generated from openapi.json (npm run openapi:types)", async () => {
  const script = new URL("scripts/openapi-types.mjs", root).href;
  const { generate } = (await import(script)) as { generate: () => Promise<string> };
  const committed = readFileSync(new URL("src/openapi.ts", root), "utf8");
  assert.ok(committed === (await generate()), "src/openapi.ts is stale: run `npm run openapi:types`");
});

test("LIST_ROUTES are the routes whose answer is a list page", () => {
  const fromDoc = Object.entries(doc.paths)
    .filter(([, item]) => /^a list page/.test(item["get"]?.responses?.["200"]?.description ?? ""))
    .map(([path]) => path)
    .sort();
  assert.ok(fromDoc.includes("/v2/wallets"), "the document lists wallets as a list page");
  assert.deepEqual([...LIST_ROUTES].sort(), fromDoc);
});

test("the snapshot is the v2 API's OpenAPI 3.1 document", () => {
  assert.match(doc.openapi, /^3\.1\./);
  for (const p of [
    "/v2/organization/wallet-sets",
    "/v2/organization/wallets",
    "/v2/organization/sign/message",
    "/v2/organization/sign/typed-data",
    "/v2/organization/sign/transaction",
    "/v2/webhooks",
  ]) {
    assert.ok(doc.paths[p]?.["post"], `POST ${p}`);
  }
});
