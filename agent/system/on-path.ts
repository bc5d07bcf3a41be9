// Whether a tool is installed: an executable of that name in a PATH directory.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function onPath(cmd: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).some((dir) => {
    if (dir === '') return false;
    try { accessSync(join(dir, cmd), constants.X_OK); return true; } catch { return false; }
  });
}
