// Types for the part of compressjs (pure-JS bzip2) that discovery uses.
// compressjs ships AMD modules without declarations; tools/bundle.mjs rewrites
// them to CommonJS for the single-file build.
declare module 'compressjs/lib/Bzip2.js' {
  /** compressjs byte stream: what `decompressFile` writes into. */
  export interface CompressjsOutStream {
    writeByte(b: number): void;
    write?(buf: ArrayLike<number>, offset: number, length: number): number;
    flush?(): void;
  }
  const Bzip2: {
    /** props = block size multiplier 1..9 (header `BZh<n>`). Returns the compressed bytes when outStream is null. */
    compressFile(input: Uint8Array, outStream: null, props?: number): Uint8Array;
    /** Returns the decompressed bytes when output is null/undefined; writes into `output` when it is a stream. */
    decompressFile(input: Uint8Array, output?: CompressjsOutStream | null, multistream?: boolean): Uint8Array;
  };
  export default Bzip2;
}

declare module 'compressjs/lib/BWT.js' {
  const BWT: {
    /** Burrows-Wheeler transform of T[0..n) into U as bzip2 defines it; returns the origin pointer. */
    bwtransform2(T: Uint8Array, U: Uint8Array, n: number, alphabetSize: number): number;
  };
  export default BWT;
}
