// Size of a node's tag map as serf puts it on the wire, and serf's limit.
//
// serf (protocol >= 3) encodes the tags as one msgpack map[string]string
// prefixed with the magic byte 0xFF (serf.go encodeTags, tagMagicByte = 255)
// and hands it to memberlist as node meta; memberlist refuses meta longer than
// MetaMaxSize = 512 bytes when the node sets it (net.go / memberlist.go). The
// check is sender-side only, so staying within it is our job: a stock serf
// agent could never have set a bigger value, and every Cloudy tool assumes it.
import { encodeTags } from '../gossip/wire/serf-messages.ts';

/** Bytes of `0xFF msgpack(map[string]string)` for these tags (Go map order does not change the size). */
export function encodedTagsSize(tags: Readonly<Record<string, string>>): number {
  return encodeTags(tags).length;
}
