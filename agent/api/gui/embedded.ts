// The GUI files inside the single executable. In the sources this is null and
// gui/assets.ts reads the files next to it; agent/bundle.mjs replaces this
// module with one whose EMBEDDED maps each file name to its text, so the
// bundle and the executable serve the GUI without any file on disk (no CDN:
// community networks are often cut off from the internet).
export const EMBEDDED: Record<string, string> | null = null;
