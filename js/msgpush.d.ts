// Types of msgpush.js, the browser helper of msgpush (served by msgpushd at
// /msgpush.js, next to /socket.io/socket.io.js). It needs socket.io-client
// 3.x or 4.x: 2.x cannot give a fresh token and positions at each reconnect.

import type { Socket, ManagerOptions, SocketOptions } from 'socket.io-client';

export as namespace MsgPush;

/** Where a tab stands in one stream: `user`, `all`, or `g:` and 16 hex digits for a group. */
export interface Position {
  epoch: string;
  position: number;
}

/** The second argument of a message's handler. */
export interface Meta {
  /** The message's id, 32 hex digits (`PushEvent->id()` in PHP): give it to `read()`. */
  id?: string;
  /** Where the message was kept, by stream. */
  positions?: Record<string, Position>;
  /** Kept in the user's inbox until a tab acknowledged it (the helper does, once the handlers returned). */
  kept?: boolean;
  /** Given at login (recovered, or from the inbox), not live. */
  recovered?: boolean;
}

export interface ConnectOptions {
  /** A login token from `MsgPush\Auth::token()`, rendered into the page. */
  token?: string;
  /**
   * Fetches a new token (from a route of the application): called when the
   * token is about to expire (30 s before), ahead of time and before a
   * reconnect, so a long-lived tab never presents an expired one.
   */
  getToken?: () => string | Promise<string>;
  /** The socket.io client's `io` (default: the global one). */
  io?: (url?: string, options?: Partial<ManagerOptions & SocketOptions>) => Socket;
  /** Options for `io()`, but `auth`, which the helper sets (`forceNew` is true unless given). */
  socket?: Partial<ManagerOptions & SocketOptions>;
  /** Where positions and seen ids are kept, per tab (default: sessionStorage; null: memory only). */
  storage?: Pick<Storage, 'getItem' | 'setItem'> | null;
}

/** What a group's page hears: who is there, who arrives and who leaves. */
export interface GroupCallbacks {
  /** The users with a tab in the group (the first 1,000), at each (re)connect. */
  here?: (uids: string[]) => void;
  /** A user's first tab arrived in the group. */
  joining?: (uid: string) => void;
  /** A user's last tab left it, `--offline-grace-secs` ago (a reload is no departure). */
  leaving?: (uid: string) => void;
}

export interface Group {
  /** The members known now. */
  members(): string[];
}

export interface Client {
  /** The socket.io socket underneath, for what the helper does not cover. */
  readonly socket: Socket;
  /** `connecting`, `online` or `offline`. */
  readonly state: 'connecting' | 'online' | 'offline';
  /** The last `update_online_count` text. */
  readonly online: string | null;
  /**
   * A message event (`new_msg`, or any name PHP's `setEvent()` gave): the
   * handler runs once per message id; when every handler returned without
   * throwing the message is acknowledged (it leaves the user's inbox, and
   * counts as a receipt). A handler that throws leaves it unacknowledged:
   * a kept message comes back at the next login.
   */
  on(event: string, handler: (content: any, meta: Meta) => void): Client;
  /** The connection's state changed. */
  on(event: 'state', handler: (state: 'online' | 'offline') => void): Client;
  /** The online count changed (web-msg-sender's text). */
  on(event: 'online', handler: (text: string) => void): Client;
  /** A reconnect could not recover everything the tab missed: reload the page's state from the application. */
  on(event: 'gap', handler: (gap: { incomplete: string[] }) => void): Client;
  /** A user arrived in, or left, one of the tab's groups. */
  on(event: 'joined' | 'left', handler: (who: { group: string; uid: string }) => void): Client;
  /** A handler threw, the connection or the login failed, or getToken() did. */
  on(event: 'error', handler: (error: Error) => void): Client;
  off(event: string, handler: (...args: any[]) => void): Client;
  /**
   * A message to the application (`msgpush:send`, a name the daemon's
   * `--page-messages` allows): resolves with the JSON its webhook route
   * answered, rejects with the daemon's or the application's refusal.
   */
  send(name: string, data?: unknown, timeoutMs?: number): Promise<any>;
  /** The user read message `msgId` (`meta.id`): recorded in its receipts. */
  read(msgId: string): void;
  /** The users with a tab in `group`, a group this tab is in. */
  members(group: string): Promise<string[]>;
  /** Follows who is in `group` (one this tab is in). */
  group(name: string, callbacks?: GroupCallbacks): Group;
  /** Closes the connection. */
  close(): void;
}

/** Connects to msgpushd at `url` (undefined: the page's own origin). */
export function connect(url: string | undefined, options?: ConnectOptions): Client;
