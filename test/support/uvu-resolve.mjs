// Module resolve hook: `uvu` -> ./uvu-wrapped.mjs (only for imports outside that wrapper).
const wrapped = new URL('./uvu-wrapped.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'uvu' && context.parentURL !== wrapped) return { url: wrapped, shortCircuit: true };
  return next(specifier, context);
}
