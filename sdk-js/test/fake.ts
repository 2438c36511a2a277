// A fake `fetch` for unit tests: records each request and answers from a handler.

export interface Seen {
  method: string;
  url: URL;
  headers: Headers;
  body: unknown;
}

export type Handler = (req: Seen) => { status?: number; body?: unknown; text?: string; headers?: Record<string, string> };

export function fakeFetch(handler: Handler): { fetch: typeof fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const f = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    const raw = typeof init?.body === "string" ? init.body : undefined;
    const req: Seen = {
      method: init?.method ?? "GET",
      url: new URL(typeof input === "string" || input instanceof URL ? input : input.url),
      headers,
      body: raw === undefined ? undefined : JSON.parse(raw),
    };
    seen.push(req);
    const out = handler(req);
    const status = out.status ?? 200;
    const text = out.text ?? JSON.stringify(out.body);
    return new Response(text, {
      status,
      headers: { "content-type": "application/json", "x-request-id": "req-header-1", ...out.headers },
    });
  };
  return { fetch: f as typeof fetch, seen };
}

/** The success envelope around `data`. */
export function ok(data: unknown, status = 200): { status: number; body: unknown } {
  return { status, body: { success: true, status, message: "ok", data } };
}

/** The error envelope, as the server writes it (`request_id`). */
export function err(status: number, code: string, message: string): { status: number; body: unknown } {
  return { status, body: { success: false, status, message, code, request_id: "req-body-1" } };
}
