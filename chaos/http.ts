/** One HTTP answer as the driver saw it. */
export interface Answer {
  /** 0: no answer (connection refused or reset, timeout). */
  status: number;
  /** `error.code` of an error answer. */
  code?: string;
  /** The connection was refused: the request never reached a server, nothing can have happened. */
  refused?: boolean;
  body?: Record<string, unknown>;
  /** Seconds from Retry-After, when sent. */
  retryAfterSec?: number;
}

/** How long the driver waits for an answer before it treats the request as unanswered, like a client's timeout. */
const REQUEST_TIMEOUT_MS = 20_000;

export async function send(url: string, method: 'GET' | 'POST', body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  try {
    const res = await fetch(url, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      parsed = undefined;
    }
    const error = parsed?.error as { code?: string } | undefined;
    const retryAfter = Number(res.headers.get('retry-after'));
    return {
      status: res.status,
      code: error?.code,
      body: parsed,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterSec: retryAfter } : {}),
    };
  } catch (err) {
    // undici reports the socket's error as the cause of its "fetch failed".
    const cause = (err as { cause?: { code?: string } }).cause;
    return { status: 0, refused: cause?.code === 'ECONNREFUSED' };
  }
}
