// Types for the part of tiny-json-http (the chosen HTTP client) that guifi/ uses.
declare module 'tiny-json-http' {
  export interface TinyOptions {
    url: string;
    /** GET: query-string variables appended to the URL. */
    data?: Record<string, string>;
    headers?: Record<string, string>;
    /** Body returned as a Buffer, unparsed. */
    buffer?: boolean;
    /** Socket time-out (ms); only emits 'timeout', never aborts (guifi/http.ts adds a deadline). */
    timeout?: number;
  }
  export interface TinyReply<B> { body: B; headers: Record<string, string | string[] | undefined> }
  /** Rejections for HTTP status >= 303 carry the status. */
  export interface TinyError extends Error { statusCode?: number; body?: string }
  const tiny: {
    get(o: TinyOptions & { buffer: true }): Promise<TinyReply<Buffer>>;
    get(o: TinyOptions): Promise<TinyReply<unknown>>;
  };
  export default tiny;
}
