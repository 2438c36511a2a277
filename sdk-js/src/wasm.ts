// The organization-secret module (crates/planbok-sdk-wasm, built into wasm/ by
// scripts/build-sdk-wasm.sh): loaded once, synchronously, on first use. Every piece of
// cryptography of src/secret.ts happens in it; this file only finds and instantiates it.

import { readFileSync } from "node:fs";

import * as module from "#wasm";

let ready = false;

/** The module's exports, instantiated. */
export function wasm(): typeof module {
  if (!ready) {
    // wasm/ sits beside dist/ in the package (package.json `files`): two levels up from
    // dist/src/wasm.js.
    const bytes = readFileSync(new URL("../../wasm/planbok_sdk_wasm_bg.wasm", import.meta.url));
    module.initSync({ module: bytes });
    ready = true;
  }
  return module;
}
