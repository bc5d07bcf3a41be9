// The two ways a RemoteClient sends its query: through a serf node in the same
// process (the full node's GUI/API) or through an agent's RPC (the CLI).
import type { Serf } from '../gossip/serf/types.ts';
import type { RpcClient } from '../rpc/client.ts';
import type { QueryTransport } from './sender.ts';

export function serfTransport(serf: Serf): QueryTransport {
  return {
    async query(p, onResponse, signal) {
      let done: () => void = () => {};
      const finished = new Promise<void>((r) => { done = r; });
      const h = await serf.query(p.name, p.payload, {
        ...(p.filterNodes ? { filterNodes: p.filterNodes } : {}), ...(p.filterTags ? { filterTags: p.filterTags } : {}),
        relayFactor: p.relayFactor, timeoutMs: p.timeoutMs,
      }, { onResponse, onDone: () => done() });
      const abort = (): void => h.close();
      if (signal.aborted) abort(); else signal.addEventListener('abort', abort, { once: true });
      await finished;
      signal.removeEventListener('abort', abort);
    },
  };
}

/** The query runs in the agent behind `client`; an abort stops waiting (the caller closes the client). */
export function rpcTransport(client: RpcClient): QueryTransport {
  return {
    async query(p, onResponse, signal) {
      const aborted = new Promise<void>((r) => { if (signal.aborted) r(); else signal.addEventListener('abort', () => r(), { once: true }); });
      await Promise.race([
        client.query({
          name: p.name, payload: p.payload, relayFactor: p.relayFactor, timeoutMs: p.timeoutMs,
          ...(p.filterNodes ? { filterNodes: p.filterNodes } : {}), ...(p.filterTags ? { filterTags: p.filterTags } : {}),
        }, { onResponse }),
        aborted,
      ]);
    },
  };
}
