// HTTP status and JSON error body of a failed API request. Every error leaves
// the server as {"error":{"code","message"[,"field"]}} with a stable code: the
// AgentError code when a domain refused (E_INVALID, E_NOT_FOUND...), else one
// of the HTTP-level codes below.
import { AgentError, errorMessage } from '../errors.ts';

export type HttpErrorCode =
  | 'E_AUTH'        // 401: no valid session or token
  | 'E_FORBIDDEN'   // 403: authenticated, but the role does not allow it
  | 'E_CSRF'        // 403: state-changing browser request without the session's CSRF token
  | 'E_NOT_FOUND'   // 404
  | 'E_METHOD'      // 405 (Allow header lists the methods)
  | 'E_TOO_LARGE'   // 413: body over limits.httpMaxBodyBytes
  | 'E_RATE'        // 429: too many failed logins from this address, or too many requests at once
  | 'E_NO_PASSWORD' // 503: no admin password set yet (`cloudy-agent passwd`)
  | 'E_INTERNAL';   // 500

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode | string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly field?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** AgentError code -> HTTP status. */
const STATUS_OF: Record<string, number> = {
  E_INVALID: 400, E_DECODE: 400, E_CONFIG: 400,
  E_AUTH: 401,
  E_FORBIDDEN: 403,
  E_NOT_FOUND: 404,
  E_EXISTS: 409, E_STATE: 409,
  E_TOO_LARGE: 413,
  E_LIMIT: 429,
  E_UNAVAILABLE: 503,
  E_TIMEOUT: 504,
};

/** Any thrown value -> the HttpError the client sees (internal errors keep their message out of the body). */
export function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof AgentError) {
    const field = typeof e.details?.field === 'string' ? e.details.field : undefined;
    return new HttpError(STATUS_OF[e.code] ?? 500, e.code, e.message, {}, field);
  }
  return new HttpError(500, 'E_INTERNAL', `internal error: ${errorMessage(e)}`);
}

export function errorBody(e: HttpError): string {
  return JSON.stringify({ error: { code: e.code, message: e.message, ...(e.field !== undefined ? { field: e.field } : {}) } });
}
