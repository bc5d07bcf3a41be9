// Key-management queries (SERF-PROTOCOL.md §3.9): `_serf_install-key`,
// `_serf_use-key`, `_serf_remove-key`, `_serf_list-keys`. The answering side
// applies the request to our Keyring (the one memberlist encrypts with), so
// `serf keys ...` run on any node rotates our keys too; the asking side
// (KeyManager) aggregates every node's response like serf's KeyManager.
import type { KeyResponse, QueryHandle, QueryHandlers } from './types.ts';
import type { Keyring } from '../wire/keyring.ts';
import { keyToBase64 } from '../wire/keyring.ts';
import { AgentError, errorMessage } from '../../errors.ts';
import {
  encodeKeyRequest, decodeKeyRequest, encodeNodeKeyResponse, decodeNodeKeyResponse, type NodeKeyResponse,
  QUERY_INSTALL_KEY, QUERY_USE_KEY, QUERY_LIST_KEYS,
} from '../wire/serf-messages.ts';

/** Room left for the queryResponse envelope around a key response (From, LTime, ID...). */
const RESPONSE_ENVELOPE_BYTES = 64;

/**
 * Answers one key query against `keyring` (null/empty = encryption off).
 * Returns the response payload (`[8] nodeKeyResponse`) and whether the keyring changed.
 */
export function answerKeyQuery(name: string, payload: Uint8Array, keyring: Keyring | null, responseSizeLimit: number): { response: Uint8Array; changed: boolean } {
  const resp: NodeKeyResponse = { result: false, message: '', keys: [], primaryKey: '' };
  const out = (changed = false) => ({ response: encodeNodeKeyResponse(resp), changed });
  if (!keyring || !keyring.isEnabled()) {
    resp.message = 'No keyring to modify (encryption not enabled)';
    return out();
  }
  if (name === QUERY_LIST_KEYS) {
    const keys = keyring.keys().map(keyToBase64);
    resp.primaryKey = keyToBase64(keyring.primaryKey()!);
    resp.result = true;
    // Keep the response under the size limit: serf truncates the list and says so.
    for (let shown = keys.length; shown >= 0; shown--) {
      resp.keys = keys.slice(0, shown);
      resp.message = shown < keys.length ? `Truncated key list response, showing first ${shown} of ${keys.length} keys` : '';
      if (encodeNodeKeyResponse(resp).length + RESPONSE_ENVELOPE_BYTES <= responseSizeLimit) break;
    }
    return out();
  }
  let key: Uint8Array;
  try { key = decodeKeyRequest(payload).key; } catch (e) {
    resp.message = `Failed to decode key request: ${errorMessage(e)}`;
    return out();
  }
  try {
    if (name === QUERY_INSTALL_KEY) keyring.installKey(key);
    else if (name === QUERY_USE_KEY) keyring.useKey(key);
    else keyring.removeKey(key);
    resp.result = true;
    return out(true);
  } catch (e) {
    resp.message = errorMessage(e);
    return out();
  }
}

export type SendQuery = (name: string, payload: Uint8Array, handlers: QueryHandlers) => Promise<QueryHandle>;

/**
 * Sends one key query to the whole cluster and aggregates the answers
 * (NumNodes = alive members; finishes early once every node answered).
 */
export async function runKeyQuery(name: string, keyB64: string | null, numNodes: number, send: SendQuery): Promise<KeyResponse> {
  let key = new Uint8Array(0);
  if (keyB64 !== null) {
    const t = keyB64.trim();
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(t) || t.length % 4 !== 0) throw new AgentError('E_INVALID', 'key is not valid base64');
    key = new Uint8Array(Buffer.from(t, 'base64'));
  }
  const resp: KeyResponse = { messages: {}, numNodes, numResp: 0, numErr: 0 };
  if (name === QUERY_LIST_KEYS) resp.keys = {};
  await new Promise<void>((resolve, reject) => {
    let handle: QueryHandle | null = null;
    let done = false;
    send(name, encodeKeyRequest(key), {
      onResponse: (from, payload) => {
        resp.numResp++;
        let r: NodeKeyResponse | null = null;
        try { r = decodeNodeKeyResponse(payload); } catch {
          resp.messages[from] = 'Failed to decode key query response payload';
          resp.numErr++;
        }
        if (r) {
          if (!r.result) { resp.messages[from] = r.message; resp.numErr++; } else if (r.message) resp.messages[from] = r.message;
          if (resp.keys) for (const k of r.keys) resp.keys[k] = (resp.keys[k] ?? 0) + 1;
        }
        if (resp.numResp >= resp.numNodes) handle?.close();
      },
      onDone: () => { if (!done) { done = true; resolve(); } },
    }).then((h) => { handle = h; if (done) h.close(); }, reject);
  });
  return resp;
}
