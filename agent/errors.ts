// Typed errors with stable codes. A caller (CLI, RPC, tests) matches on `code`,
// never on message text. Expected network garbage is counted, not thrown.

export type ErrorCode =
  | 'E_CONFIG'          // bad flag, config-file value, or combination
  | 'E_DECODE'          // malformed wire data (counted and dropped by the network paths)
  | 'E_DECRYPT'         // no installed key opens the message
  | 'E_CRC'             // CRC mismatch
  | 'E_TOO_LARGE'       // a size limit (tags 512 B, event payload, query, state bytes)
  | 'E_LIMIT'           // a bounded table/queue is full and refused the item
  | 'E_TIMEOUT'
  | 'E_NOT_FOUND'
  | 'E_EXISTS'
  | 'E_INVALID'         // a user-supplied value fails validation
  | 'E_STATE'           // operation not allowed in the current state (e.g. after leave)
  | 'E_RPC'             // agent RPC protocol error
  | 'E_AUTH'
  | 'E_FORBIDDEN'       // the caller's role does not allow the command
  | 'E_EXEC'            // a spawned tool failed (exit code and stderr attached)
  | 'E_UNAVAILABLE'     // a needed tool or service is missing
  | 'E_IO';

export class AgentError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AgentError';
    this.code = code;
    this.details = details;
  }
}

export function isAgentError(e: unknown, code?: ErrorCode): e is AgentError {
  return e instanceof AgentError && (code === undefined || e.code === code);
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The text a serf RPC verb answers for `e`: serf 0.9.4's own error string when
 * the thrower recorded one (details.serfText; our message keeps the detail for
 * logs and our own subcommands), else the message.
 */
export function serfErrorText(e: unknown): string {
  const t = e instanceof AgentError ? e.details?.serfText : undefined;
  return typeof t === 'string' ? t : errorMessage(e);
}
