// The token side of a guifi.net session: log in (the token and user name go to
// the state file, the password nowhere), and run a command with the saved
// token, logging in again ONCE when guifi.net refuses it with 502 (expired
// after 12 h, or replaced by a login elsewhere: one token per user). Whether a
// new password can be had is the caller's: the CLI asks, the headless
// registrar has one in its configuration or waits for a new token.
import { isTokenRefused } from './errors.ts';
import type { GuifiClient } from './client.ts';
import type { GuifiStateStore } from './state.ts';

export async function loginAndSave(client: GuifiClient, store: GuifiStateStore, username: string, password: string): Promise<string> {
  const token = await client.login(username, password);
  await store.update({ username, token });
  return token;
}

/**
 * Runs `fn` with the client's token; on a 502 asks `newPassword` (null = none
 * to be had), logs in and runs `fn` once more. `fn` must be safe to repeat
 * (the registration steps are). A second 502 comes out as it is: no loop.
 */
export async function withTokenRetry<T>(
  d: { client: GuifiClient; store: GuifiStateStore; username: () => Promise<string> },
  newPassword: () => Promise<string | null>,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!isTokenRefused(e)) throw e;
    const username = await d.username();
    const password = username === '' ? null : await newPassword();
    if (password === null) throw e;
    await loginAndSave(d.client, d.store, username, password);
    return fn();
  }
}
