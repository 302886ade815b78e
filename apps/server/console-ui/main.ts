import { createRealtime } from '@cast/realtime-client';
import type { ConnectionState, Realtime } from '@cast/realtime-client';
import { channelError, eventNameError, isCastError, isValidChannel, patternError } from '@cast/protocol';
import type { SessionInfo } from '@cast/protocol';
import { createConsoleApi, describeError, isKeyError, type ConsoleApi } from './api.js';
import { byId, el } from './dom.js';
import { createEventLog } from './event-log.js';
import { createPresenceState } from './presence-state.js';
import { buildSnippets, type Snippet } from './snippets.js';

// The key lives in this tab only: sessionStorage ends with the tab, and nothing else is persisted.
const KEY_ITEM = 'cast.console.apiKey';
const CHANNELS_ITEM = 'cast.console.channels';
const TYPES_ITEM = 'cast.console.types';
/** The console's own sessions carry this user id, so the sessions list tells them apart. */
const CONSOLE_USER = 'console';
const SESSIONS_EVERY_MS = 10_000;
/** The events of the stream that go to the member list rather than the event log. */
const PRESENCE_EVENTS: ReadonlySet<string> = new Set(['presence.sync', 'presence.join', 'presence.leave']);

type StatusState = ConnectionState | 'signed-out' | 'idle';

const ui = {
  status: byId('status'),
  statusText: byId('status-text'),
  signOut: byId<HTMLButtonElement>('sign-out'),
  signIn: byId('sign-in'),
  signInForm: byId<HTMLFormElement>('sign-in-form'),
  apiKey: byId<HTMLInputElement>('api-key'),
  signInError: byId('sign-in-error'),
  workspace: byId('workspace'),
  subscribeForm: byId<HTMLFormElement>('subscribe-form'),
  channels: byId<HTMLInputElement>('channels'),
  types: byId<HTMLInputElement>('types'),
  subscribeError: byId('subscribe-error'),
  subscribe: byId<HTMLButtonElement>('subscribe'),
  unsubscribe: byId<HTMLButtonElement>('unsubscribe'),
  eventCount: byId('event-count'),
  filter: byId<HTMLInputElement>('filter'),
  pause: byId<HTMLButtonElement>('pause'),
  clear: byId<HTMLButtonElement>('clear'),
  eventsEmpty: byId('events-empty'),
  eventList: byId<HTMLOListElement>('event-list'),
  publishForm: byId<HTMLFormElement>('publish-form'),
  publishChannel: byId<HTMLInputElement>('publish-channel'),
  subscribedChannels: byId<HTMLDataListElement>('subscribed-channels'),
  publishEvent: byId<HTMLInputElement>('publish-event'),
  publishData: byId<HTMLTextAreaElement>('publish-data'),
  publishCheck: byId('publish-check'),
  publish: byId<HTMLButtonElement>('publish'),
  publishResult: byId('publish-result'),
  sessionsNote: byId('sessions-note'),
  sessionsRefresh: byId<HTMLButtonElement>('sessions-refresh'),
  sessionsTable: byId<HTMLTableElement>('sessions-table'),
  sessionsBody: byId<HTMLTableSectionElement>('sessions-body'),
  disconnectReconnect: byId<HTMLInputElement>('disconnect-reconnect'),
  disconnectResult: byId('disconnect-result'),
  presenceNote: byId('presence-note'),
  presenceList: byId('presence-list'),
  snippetTabs: byId('snippet-tabs'),
  snippetHint: byId('snippet-hint'),
  snippetCopy: byId<HTMLButtonElement>('snippet-copy'),
  snippetCode: byId<HTMLPreElement>('snippet-code'),
};

let apiKey: string | undefined;
let api: ConsoleApi | undefined;
let realtime: Realtime | undefined;
let channels: string[] = [];
let snippets: Snippet[] = [];
let snippetIndex = 0;
let sessionsTimer: ReturnType<typeof setInterval> | undefined;
const presence = createPresenceState();

const STATUS_TEXT: Record<StatusState, string> = {
  'signed-out': 'Signed out',
  idle: 'Not subscribed',
  disconnected: 'Disconnected',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Not subscribed',
};

/** The last error the client reported, shown on the badge until the stream is back. */
let lastError = '';

function setStatus(state: StatusState): void {
  if (state === 'connected' || state === 'idle' || state === 'signed-out') lastError = '';
  ui.status.dataset.state = state;
  const base = STATUS_TEXT[state];
  ui.statusText.textContent = state === 'connected' && channels.length > 0 ? `${base} · ${channels.join(', ')}` : base;
  ui.status.title = lastError;
}

function showError(node: HTMLElement, message: string | undefined): void {
  node.textContent = message ?? '';
  node.hidden = !message;
}

function splitList(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

// ---------------------------------------------------------------- event log

const log = createEventLog({
  list: ui.eventList,
  onChange({ shown, total, held, paused }) {
    ui.eventCount.textContent = shown === total ? String(total) : `${shown} of ${total}`;
    ui.eventsEmpty.hidden = total > 0 || held > 0;
    ui.pause.textContent = paused ? (held > 0 ? `Resume (${held} new)` : 'Resume') : 'Pause';
    ui.pause.setAttribute('aria-pressed', String(paused));
  },
});

ui.filter.addEventListener('input', () => log.setFilter(ui.filter.value));
ui.filter.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && ui.filter.value) {
    ui.filter.value = '';
    log.setFilter('');
  }
});
ui.pause.addEventListener('click', () => log.setPaused(!log.paused));
ui.clear.addEventListener('click', () => log.clear());
document.addEventListener('keydown', (e) => {
  const target = e.target as HTMLElement | null;
  const typing = target?.closest('input, textarea, select, [contenteditable]');
  if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !ui.workspace.hidden) {
    e.preventDefault();
    ui.filter.focus();
  }
});

// ---------------------------------------------------------------- sign in / out

async function signIn(key: string): Promise<void> {
  const candidate = createConsoleApi(key);
  // Issuing a token is the cheapest call that proves a secret key; the token itself is dropped.
  await candidate.issueToken([CONSOLE_USER], CONSOLE_USER);
  apiKey = key;
  api = candidate;
  sessionStorage.setItem(KEY_ITEM, key);
  ui.signIn.hidden = true;
  ui.workspace.hidden = false;
  ui.signOut.hidden = false;
  setStatus('idle');
  refreshSnippets();
  const saved = sessionStorage.getItem(CHANNELS_ITEM);
  if (saved) {
    ui.channels.value = saved;
    ui.types.value = sessionStorage.getItem(TYPES_ITEM) ?? '';
    await subscribe();
  } else {
    ui.channels.focus();
  }
}

function signOut(message?: string): void {
  stopStream();
  apiKey = undefined;
  api = undefined;
  sessionStorage.removeItem(KEY_ITEM);
  sessionStorage.removeItem(CHANNELS_ITEM);
  sessionStorage.removeItem(TYPES_ITEM);
  log.clear();
  ui.workspace.hidden = true;
  ui.signOut.hidden = true;
  ui.signIn.hidden = false;
  ui.apiKey.value = '';
  showError(ui.signInError, message);
  setStatus('signed-out');
  ui.apiKey.focus();
}

ui.signInForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const key = ui.apiKey.value.trim();
  if (!key) {
    showError(ui.signInError, 'Enter a secret API key.');
    ui.apiKey.focus();
    return;
  }
  showError(ui.signInError, undefined);
  const button = ui.signInForm.querySelector('button') as HTMLButtonElement;
  button.disabled = true;
  signIn(key)
    .catch((err: unknown) => {
      showError(ui.signInError, describeError(err));
      ui.apiKey.select();
    })
    .finally(() => {
      button.disabled = false;
    });
});
ui.signOut.addEventListener('click', () => signOut());

// ---------------------------------------------------------------- subscribe

function stopStream(): void {
  realtime?.destroy();
  realtime = undefined;
  clearInterval(sessionsTimer);
  sessionsTimer = undefined;
  ui.unsubscribe.disabled = true;
  if (apiKey) setStatus('idle');
}

async function subscribe(): Promise<void> {
  if (!api) return;
  const wanted = splitList(ui.channels.value);
  const types = splitList(ui.types.value);
  if (wanted.length === 0) return showError(ui.subscribeError, 'Enter at least one channel.');
  // The server's own words for a bad name (the protocol's checks), before anything is sent.
  const bad = [...wanted.map((ch) => channelError(ch)), ...types.map(patternError)].find((e) => e !== undefined);
  if (bad) return showError(ui.subscribeError, bad.message);
  showError(ui.subscribeError, undefined);
  stopStream();
  const current = api;
  // The first token is issued here so a refused channel list is reported on the form.
  let first: string | undefined;
  try {
    first = (await current.issueToken(wanted, CONSOLE_USER, true)).token;
  } catch (err) {
    if (isKeyError(err)) return signOut(describeError(err));
    return showError(ui.subscribeError, describeError(err));
  }
  channels = wanted;
  presence.reset(wanted);
  renderPresence();
  sessionStorage.setItem(CHANNELS_ITEM, wanted.join(', '));
  sessionStorage.setItem(TYPES_ITEM, types.join(', '));
  ui.channels.value = wanted.join(', ');
  ui.subscribedChannels.replaceChildren(...wanted.map((ch) => el('option', { value: ch })));
  if (!ui.publishChannel.value || !wanted.includes(ui.publishChannel.value))
    ui.publishChannel.value = wanted[0] as string;
  checkPublish();

  const client = createRealtime({
    url: location.origin,
    // A presence token's stream carries presence events whatever `types` says, so the member list fills.
    ...(types.length > 0 ? { types } : {}),
    // A fresh token for every (re)connection, so a long session outlives any one token.
    token: async () => {
      const token = first ?? (await current.issueToken(wanted, CONSOLE_USER, true)).token;
      first = undefined;
      return token;
    },
  });
  realtime = client;
  client.onStateChange((state) => {
    if (realtime !== client) return;
    setStatus(state);
    if (state === 'connected') {
      void refreshSessions();
    }
  });
  client.onError((err) => {
    if (realtime !== client) return;
    // Only the token request can say the key is wrong; stream errors (an expired token) are the client's to handle.
    if (err.code === 'INVALID_API_KEY') {
      signOut(describeError(err));
      return;
    }
    lastError = `${err.code}: ${err.message}`;
    ui.status.title = lastError;
    if (!err.retryable) log.note(`Stopped: ${describeError(err)}`, 'warn');
  });
  client.onResume(({ recovered, lastEventId }) => {
    log.note(
      recovered
        ? `Reconnected and resumed after ${lastEventId}: nothing was missed.`
        : `Reconnected, but the server could not replay everything after ${lastEventId} (it restarted, or the history is shorter): some events may be missing.`,
      recovered ? 'info' : 'warn',
    );
  });
  client.onAny((event) => {
    // The stream carries presence.* only because the console asks for them (its token's `presence`):
    // they feed the member list, and the event log shows what the channels' publishers sent.
    if (PRESENCE_EVENTS.has(event.type)) {
      if (presence.apply(event.type, event.data)) renderPresence();
      return;
    }
    log.add(event);
  });
  ui.unsubscribe.disabled = false;
  sessionsTimer = setInterval(() => {
    if (document.visibilityState === 'visible' && client.connected) void refreshSessions();
  }, SESSIONS_EVERY_MS);
  refreshSnippets();
}

ui.subscribeForm.addEventListener('submit', (e) => {
  e.preventDefault();
  ui.subscribe.disabled = true;
  subscribe().finally(() => {
    ui.subscribe.disabled = false;
  });
});
ui.unsubscribe.addEventListener('click', () => {
  stopStream();
  channels = [];
  presence.reset([]);
  renderPresence();
  sessionStorage.removeItem(CHANNELS_ITEM);
  renderSessions([]);
  ui.subscribe.focus();
});

// ---------------------------------------------------------------- publish

function readPublish():
  { ok: true; body: { channel: string; event: string; data: unknown } } | { ok: false; message: string } {
  const channel = ui.publishChannel.value.trim();
  const event = ui.publishEvent.value.trim();
  let data: unknown;
  try {
    data = JSON.parse(ui.publishData.value);
  } catch (err) {
    return { ok: false, message: `Invalid JSON: ${(err as Error).message}` };
  }
  if (!channel) return { ok: false, message: 'Enter a channel.' };
  if (!event) return { ok: false, message: 'Enter an event name.' };
  const bad = channelError(channel) ?? eventNameError(event);
  if (bad) return { ok: false, message: bad.message };
  return { ok: true, body: { channel, event, data } };
}

function checkPublish(): void {
  const read = readPublish();
  ui.publishCheck.textContent = read.ok ? 'Valid JSON' : read.message;
  ui.publishCheck.classList.toggle('bad', !read.ok);
  ui.publishData.setAttribute('aria-invalid', String(!read.ok && read.message.startsWith('Invalid JSON')));
  ui.publish.disabled = !read.ok;
  refreshSnippets();
}

async function publish(): Promise<void> {
  const read = readPublish();
  if (!read.ok || !api) return;
  ui.publish.disabled = true;
  try {
    const res = await api.publish(read.body);
    ui.publishResult.className = 'result';
    ui.publishResult.textContent = `Published ${res.eventId ?? res.messageId} · delivered to ${res.delivered} connection${res.delivered === 1 ? '' : 's'}`;
  } catch (err) {
    if (isKeyError(err)) return signOut(describeError(err));
    ui.publishResult.className = 'result error';
    ui.publishResult.textContent = describeError(err);
  } finally {
    ui.publishResult.hidden = false;
    ui.publish.disabled = !readPublish().ok;
  }
}

for (const input of [ui.publishChannel, ui.publishEvent, ui.publishData]) input.addEventListener('input', checkPublish);
ui.publishForm.addEventListener('submit', (e) => {
  e.preventDefault();
  void publish();
});
ui.publishData.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    void publish();
  }
});

// ---------------------------------------------------------------- sessions

function since(iso: string): string {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h`;
}

function renderSessions(sessions: SessionInfo[] | undefined): void {
  if (sessions === undefined) {
    ui.sessionsTable.hidden = true;
    ui.sessionsNote.textContent = 'This server does not list sessions.';
    return;
  }
  if (channels.length === 0) {
    ui.sessionsTable.hidden = true;
    ui.sessionsNote.textContent = 'Subscribe to see who is connected to those channels.';
    return;
  }
  ui.sessionsNote.textContent = `${sessions.length} connection${sessions.length === 1 ? '' : 's'} on ${channels.join(', ')}.`;
  ui.sessionsTable.hidden = sessions.length === 0;
  ui.sessionsBody.replaceChildren(
    ...sessions.map((s) =>
      el(
        'tr',
        {},
        el('td', {}, s.userId === CONSOLE_USER ? 'console' : (s.userId ?? '—')),
        el('td', {}, s.channels.join(', ')),
        el('td', {}, el('time', { datetime: s.connectedAt, title: s.connectedAt }, since(s.connectedAt))),
        el('td', {}, el('span', { class: 'mono' }, s.id.slice(0, 8)), disconnectButton(s)),
      ),
    ),
  );
}

function disconnectButton(session: SessionInfo): HTMLButtonElement {
  const who = session.userId === CONSOLE_USER ? 'this console' : (session.userId ?? 'anonymous');
  const button = el(
    'button',
    {
      type: 'button',
      class: 'ghost small',
      'data-session': session.id,
      'aria-label': `Disconnect session ${session.id.slice(0, 8)} (${who})`,
    },
    'Disconnect',
  );
  button.addEventListener('click', () => void disconnect(session.id, button));
  return button;
}

async function disconnect(sessionId: string, button: HTMLButtonElement): Promise<void> {
  if (!api) return;
  const reconnect = ui.disconnectReconnect.checked;
  button.disabled = true;
  try {
    const { disconnected } = await api.disconnect(sessionId, reconnect);
    const short = sessionId.slice(0, 8);
    log.note(disconnected > 0 ? `Disconnected session ${short}.` : `Session ${short} had already ended.`);
    ui.disconnectResult.className = 'result';
    ui.disconnectResult.textContent =
      disconnected === 0
        ? `Session ${short} had already ended.`
        : `Disconnected ${disconnected} stream${disconnected === 1 ? '' : 's'}` +
          (reconnect ? '; the client may reconnect.' : '; the client was told not to reconnect.');
  } catch (err) {
    if (isKeyError(err)) return signOut(describeError(err));
    ui.disconnectResult.className = 'result error';
    ui.disconnectResult.textContent =
      isCastError(err) && (err.status === 404 || err.status === 405)
        ? 'This server cannot disconnect sessions (no POST /push/disconnect).'
        : describeError(err);
    button.disabled = false;
  } finally {
    ui.disconnectResult.hidden = false;
  }
  await refreshSessions();
}

// ---------------------------------------------------------------- presence

function renderPresence(): void {
  if (channels.length === 0) {
    ui.presenceNote.textContent = 'Subscribe to see who is present on those channels, live.';
    ui.presenceList.replaceChildren();
    return;
  }
  ui.presenceNote.textContent = 'Streams whose token has a userId, live from the presence events.';
  ui.presenceList.replaceChildren(
    ...channels.flatMap((channel) => {
      const members = presence.channels.get(channel);
      const count =
        members === undefined ? 'no presence data yet' : `${members.size} member${members.size === 1 ? '' : 's'}`;
      const heading = el(
        'h3',
        { 'data-channel': channel },
        el('span', { class: 'mono' }, channel),
        el('span', { class: 'muted' }, count),
      );
      const list = el(
        'ul',
        { class: 'members', 'data-channel': channel },
        ...[...(members?.values() ?? [])].map((m) =>
          el(
            'li',
            { 'data-user': m.userId },
            el('span', { class: 'user' }, m.userId === CONSOLE_USER ? `${m.userId} (this console)` : m.userId),
            el('span', { class: 'info' }, m.userInfo === null ? '' : JSON.stringify(m.userInfo)),
          ),
        ),
      );
      return [heading, list];
    }),
  );
}

async function refreshSessions(): Promise<void> {
  if (!api || channels.length === 0) return renderSessions([]);
  try {
    renderSessions(await api.listSessions(channels));
  } catch (err) {
    ui.sessionsNote.textContent = describeError(err);
  }
}
ui.sessionsRefresh.addEventListener('click', () => void refreshSessions());

// ---------------------------------------------------------------- snippets

function refreshSnippets(): void {
  if (!apiKey) return;
  const read = readPublish();
  const snippetChannels = channels.length > 0 ? channels : splitList(ui.channels.value).filter(isValidChannel);
  const fallbackChannel = snippetChannels[0] ?? 'orders';
  snippets = buildSnippets({
    baseUrl: location.origin,
    apiKey,
    channels: snippetChannels.length > 0 ? snippetChannels : [fallbackChannel],
    publish: read.ok
      ? read.body
      : { channel: fallbackChannel, event: 'order.created', data: { orderId: 'abc123', total: 4999, currency: 'AOA' } },
  });
  if (ui.snippetTabs.childElementCount !== snippets.length) {
    ui.snippetTabs.replaceChildren(
      ...snippets.map((s, i) => {
        const tab = el(
          'button',
          { type: 'button', role: 'tab', id: `tab-${s.id}`, 'aria-controls': 'snippet-panel' },
          s.label,
        );
        tab.addEventListener('click', () => selectSnippet(i));
        return tab;
      }),
    );
  }
  selectSnippet(snippetIndex, false);
}

function selectSnippet(index: number, focus = false): void {
  snippetIndex = (index + snippets.length) % snippets.length;
  const snippet = snippets[snippetIndex] as Snippet;
  ui.snippetTabs.querySelectorAll<HTMLButtonElement>('[role=tab]').forEach((tab, i) => {
    const selected = i === snippetIndex;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
  });
  ui.snippetHint.textContent = snippet.hint;
  ui.snippetCode.textContent = snippet.code;
  ui.snippetCode.dataset.snippet = snippet.id;
  document.getElementById('snippet-panel')?.setAttribute('aria-labelledby', `tab-${snippet.id}`);
}

ui.snippetTabs.addEventListener('keydown', (e) => {
  const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1 };
  if (e.key in moves) {
    e.preventDefault();
    selectSnippet(snippetIndex + (moves[e.key] as number), true);
  } else if (e.key === 'Home' || e.key === 'End') {
    e.preventDefault();
    selectSnippet(e.key === 'Home' ? 0 : snippets.length - 1, true);
  }
});

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // The async clipboard needs a secure context (https or localhost); a server on a LAN address over http has none.
    const area = el('textarea', { readonly: '', class: 'visually-hidden' });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

ui.snippetCopy.addEventListener('click', () => {
  const snippet = snippets[snippetIndex];
  if (!snippet) return;
  void copyText(snippet.code).then((ok) => {
    ui.snippetCopy.textContent = ok ? 'Copied' : 'Select and copy';
    if (!ok) getSelection()?.selectAllChildren(ui.snippetCode);
    setTimeout(() => {
      ui.snippetCopy.textContent = 'Copy';
    }, 1500);
  });
});

// ---------------------------------------------------------------- start

checkPublish();
renderPresence();
const savedKey = sessionStorage.getItem(KEY_ITEM);
if (savedKey) {
  ui.signIn.hidden = true;
  setStatus('connecting');
  signIn(savedKey).catch((err: unknown) => {
    if (isKeyError(err)) return signOut(describeError(err));
    // The server may be restarting: keep the key in the form so one Enter signs in again.
    setStatus('signed-out');
    ui.signIn.hidden = false;
    ui.apiKey.value = savedKey;
    showError(ui.signInError, describeError(err));
    ui.apiKey.focus();
  });
} else {
  setStatus('signed-out');
  ui.apiKey.focus();
}
