// Gossip wire codecs: everything byte-level that memberlist 0.2.2 / serf 0.9.4 peers see.
// Pure functions and data; no sockets, no files.
export * from './msgpack.ts';
export * from './lzw.ts';
export * from './crc32.ts';
export * from './keyring.ts';
export * from './memberlist-messages.ts';
export * from './compress-message.ts';
export * from './packet.ts';
export * from './stream.ts';
export * from './stream-reader.ts';
export * from './byte-cursor.ts';
export * from './serf-messages.ts';
