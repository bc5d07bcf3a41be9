// The `e` (microcloud) field of every record, decided the way avahi-ps decides
// it (Clommunity/avahi-ps:avahi-ps, "Calculate Variables"): DEVICE_NAME starts
// as "demo"; when /etc/getinconf-client.conf exists the script sources it and
// sets DEVICE_NAME="${NETWORK_NAME}", so a file holding only
// GETINCONF_IGNORE="1" (cloudynitzar installs) gives an empty `e`.
// An explicit -microcloud flag / "microcloud" config key wins over the file.
import { readFile } from 'node:fs/promises';

export const GETINCONF_FILE = '/etc/getinconf-client.conf';
/** avahi-ps's DEVICE_NAME when getinconf's file is missing. */
export const MICROCLOUD_WITHOUT_GETINCONF = 'demo';

export interface MicrocloudChoice {
  name: string;
  /** Shown by `info` (discovery.microcloud_source). */
  source: string;
}

/**
 * The value NAME gets when bash sources `text` (assignments only: NAME=v,
 * NAME="v", NAME='v', `export NAME=v`; the last one wins; null = never set).
 * getinconf writes plain assignments, which is all avahi-ps relies on.
 */
export function shellAssignment(text: string, name: string): string | null {
  let value: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/^export\s+/, '');
    if (!line.startsWith(`${name}=`)) continue;
    let v = line.slice(name.length + 1);
    const q = v[0];
    if (q === '"' || q === "'") {
      const end = v.indexOf(q, 1);
      v = end < 0 ? v.slice(1) : v.slice(1, end);
    } else {
      v = v.replace(/\s+#.*$/, '').split(/\s/)[0] ?? '';
    }
    value = v;
  }
  return value;
}

export async function resolveMicrocloud(o: {
  configured: string | null;
  file?: string;
  read?: (path: string) => Promise<string>;
}): Promise<MicrocloudChoice> {
  if (o.configured !== null) return { name: o.configured, source: 'config (-microcloud)' };
  const file = o.file ?? GETINCONF_FILE;
  const read = o.read ?? ((p: string) => readFile(p, 'utf8'));
  let text: string;
  try {
    text = await read(file);
  } catch {
    return { name: MICROCLOUD_WITHOUT_GETINCONF, source: `default (${file} missing)` };
  }
  const name = shellAssignment(text, 'NETWORK_NAME');
  return { name: name ?? '', source: name === null ? `${file} (no NETWORK_NAME)` : `${file} NETWORK_NAME` };
}
