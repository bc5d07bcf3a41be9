// Errors of the guifi.net API as typed AgentErrors. guifi.net answers a failed
// command with `code.code = 201` and a list of errors carrying its own codes
// (guifi/drupal-guifi libs/GuifiAPI.php; CLOUDY-FACTS §3). The first error's
// code is kept as `guifiCode` so callers match on a number, never on text;
// the AgentError code gives the agent-wide class of the failure.
import { AgentError, type ErrorCode } from '../errors.ts';

/** guifi.net's API error codes (part of its reply format). */
export const GUIFI_CODES = {
  BAD_COMMAND: 400,
  NOT_IMPLEMENTED: 401,
  MISSING_FIELD: 402,
  INVALID_INPUT: 403,
  NOT_ALLOWED: 404,
  NOT_FOUND: 500,
  NO_PERMISSION: 501,
  INVALID_TOKEN: 502,
} as const;

const MEANING: Record<number, { text: string; code: ErrorCode }> = {
  400: { text: 'unknown command', code: 'E_UNAVAILABLE' },
  401: { text: 'command not implemented', code: 'E_UNAVAILABLE' },
  402: { text: 'missing field', code: 'E_INVALID' },
  403: { text: 'invalid input', code: 'E_INVALID' },
  404: { text: 'not allowed', code: 'E_AUTH' },
  500: { text: 'object not found', code: 'E_NOT_FOUND' },
  501: { text: 'no permission', code: 'E_AUTH' },
  502: { text: 'invalid token', code: 'E_AUTH' },
};

export interface GuifiErrorEntry {
  code: number;
  str: string;
  extra?: string;
}

/** guifi.net refused a command. */
export class GuifiApiError extends AgentError {
  readonly guifiCode: number;
  readonly command: string;
  /** 402: the missing field's name. */
  readonly field: string | undefined;
  /** The server's own text (`extra`, else `str`). */
  readonly serverText: string;
  readonly errors: readonly GuifiErrorEntry[];

  constructor(command: string, errors: readonly GuifiErrorEntry[]) {
    const first = errors[0]!;
    const meaning = MEANING[first.code];
    const serverText = first.extra !== undefined && first.extra !== '' ? first.extra : first.str;
    const what = first.code === 402 ? `missing field ${JSON.stringify(serverText)}` : `${meaning?.text ?? first.str}: ${serverText}`;
    super(meaning?.code ?? 'E_UNAVAILABLE', `guifi.net ${command}: ${what} (code ${first.code})`, { guifiCode: first.code, command });
    this.name = 'GuifiApiError';
    this.guifiCode = first.code;
    this.command = command;
    this.field = first.code === 402 ? serverText : undefined;
    this.serverText = serverText;
    this.errors = errors;
  }
}

export function isGuifiError(e: unknown, guifiCode?: number): e is GuifiApiError {
  return e instanceof GuifiApiError && (guifiCode === undefined || e.guifiCode === guifiCode);
}

/** A refused or expired token: the caller must log in again (or wait for a new token). */
export function isTokenRefused(e: unknown): boolean {
  return isGuifiError(e, GUIFI_CODES.INVALID_TOKEN);
}

/** guifi.net's answer to a duplicate nick (device or service). */
export function isNickInUse(e: unknown): boolean {
  return isGuifiError(e, GUIFI_CODES.INVALID_INPUT) && /nick.*(in use|already|exists)/i.test(e.serverText);
}

/**
 * Worth retrying unchanged later: the network, a time-out, an unreadable
 * reply, an HTTP error page. guifi.net's own refusals are not (they repeat
 * until the input or the token changes).
 */
export function isTransient(e: unknown): boolean {
  if (e instanceof GuifiApiError) return false;
  if (e instanceof AgentError) return ['E_TIMEOUT', 'E_UNAVAILABLE', 'E_DECODE', 'E_IO'].includes(e.code);
  return true;
}
