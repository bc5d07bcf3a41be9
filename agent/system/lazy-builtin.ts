// Node built-in modules loaded on first use instead of at start. A top-level
// `import ... from 'node:http'` becomes an eager require() in the bundle, and
// the heavy built-ins (http/https with tls, crypto) are not in Node's start-up
// snapshot: compiling them is a large part of the agent's module evaluation,
// all before the join is sent, for code that only runs later (the HTTP API,
// service checks, remote control, keys). Start-up: agent/obs/startup-trace.ts.
//
//   const http = lazyBuiltin('node:http');   ...   http().createServer(...)
//
// process.getBuiltinModule (Node >= 20.16 / 22.3) needs no loader; Node 18
// (Debian 12's nodejs) runs the CommonJS bundle, whose require() is at hand.
// (Not node:module's createRequire: importing it loads the ESM loader at start.)

interface Builtins {
  'node:http': typeof import('node:http');
  'node:https': typeof import('node:https');
  'node:crypto': typeof import('node:crypto');
  'node:zlib': typeof import('node:zlib');
  'node:v8': typeof import('node:v8');
}

export function lazyBuiltin<K extends keyof Builtins>(name: K): () => Builtins[K] {
  let m: Builtins[K] | undefined;
  return () => {
    if (m === undefined) {
      const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
      m = (typeof get === 'function' ? get.call(process, name) : require(name)) as Builtins[K];
    }
    return m;
  };
}
