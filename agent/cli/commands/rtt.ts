// `rtt`: estimated round trip time between two nodes from their Vivaldi
// coordinates (serf rtt; distance as serf/coordinate DistanceTo).
import { rpcCommand } from '../../cli-kit/rpc-command.ts';
import { AgentError, errorMessage } from '../../errors.ts';
import type { RpcCoordinate } from '../../rpc/client.ts';

const HELP = `Usage: cloudy-agent rtt [options] node1 [node2]

  Estimates the round trip time between two nodes from the network
  coordinates. Without node2, the agent's own node is used.

Options:
  -rpc-addr=127.0.0.1:7373  RPC address of the agent (env SERF_RPC_ADDR).
  -rpc-auth=""              RPC auth token of the agent (env SERF_RPC_AUTH).`;

/** Seconds, as coordinate.DistanceTo: |v1-v2| + heights, plus adjustments when that stays positive. */
export function coordinateDistance(a: RpcCoordinate, b: RpcCoordinate): number {
  if (a.vec.length !== b.vec.length) throw new AgentError('E_INVALID', 'coordinate dimensionality does not match');
  let sum = 0;
  for (let i = 0; i < a.vec.length; i++) sum += (a.vec[i]! - b.vec[i]!) ** 2;
  let dist = Math.sqrt(sum) + a.height + b.height;
  const adjusted = dist + a.adjustment + b.adjustment;
  if (adjusted > 0) dist = adjusted;
  // time.Duration truncates to whole nanoseconds.
  return Math.trunc(dist * 1e9) / 1e9;
}

export const rttCommand = rpcCommand({
  name: 'rtt',
  summary: 'Estimates network round trip time between nodes',
  help: HELP,
  flags: {},
  async run({ flags, connect, out, err }) {
    const client = await connect();
    if (!client) return 1;
    const nodes = [...flags.args];
    if (nodes.length === 1) {
      try {
        const stats = await client.stats();
        nodes.push(stats.agent?.name ?? '');
      } catch (e) { err(`Error querying agent: ${errorMessage(e)}`); return 1; }
    } else if (nodes.length !== 2) {
      err('One or two node names must be specified'); err(''); err(HELP); return 1;
    }
    const coords: RpcCoordinate[] = [];
    for (const n of nodes) {
      let c: RpcCoordinate | null;
      try { c = await client.getCoordinate(n); } catch (e) { err(`Error getting coordinates: ${errorMessage(e)}`); return 1; }
      if (!c) { err(`Could not find a coordinate for node ${JSON.stringify(n)}`); return 1; }
      coords.push(c);
    }
    const secs = coordinateDistance(coords[0]!, coords[1]!);
    out(`Estimated ${nodes[0]} <-> ${nodes[1]} rtt: ${(secs * 1000).toFixed(3)} ms`);
    return 0;
  },
});
