import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRealtime } from '../realtime/index.js';
import { FAKED_TIMERS, connectedFrame, eventFrame, settle } from '../testing/fake-fetch.js';
import type { RealtimeEvent } from '../types.js';
import { createXhrFetch } from './index.js';
import type { XhrLike } from './index.js';

/** A scripted XMLHttpRequest: the test moves it through its ready states. */
class FakeXhr implements XhrLike {
  static instances: FakeXhr[] = [];
  readyState = 0;
  status = 0;
  responseText = '';
  method = '';
  url = '';
  headers: Record<string, string> = {};
  responseHeaders: Record<string, string> = {};
  aborted = false;
  onreadystatechange: (() => void) | null = null;
  onprogress: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  constructor() {
    FakeXhr.instances.push(this);
  }
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
    this.readyState = 1;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  getResponseHeader(name: string) {
    return this.responseHeaders[name.toLowerCase()] ?? null;
  }
  send() {}
  abort() {
    this.aborted = true;
    this.onabort?.();
  }
  answer(status: number, headers: Record<string, string>) {
    this.status = status;
    this.responseHeaders = headers;
    this.readyState = 2;
    this.onreadystatechange?.();
  }
  receive(text: string) {
    this.responseText += text;
    this.readyState = 3;
    this.onreadystatechange?.();
    this.onprogress?.();
  }
  done() {
    this.readyState = 4;
    this.onreadystatechange?.();
  }
}

beforeEach(() => {
  FakeXhr.instances = [];
  vi.useFakeTimers({ toFake: [...FAKED_TIMERS] });
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const last = () => {
  const xhr = FakeXhr.instances[FakeXhr.instances.length - 1];
  if (!xhr) throw new Error('no XHR yet');
  return xhr;
};

describe('createXhrFetch', () => {
  it('streams progress events into the client, with headers set on the request', async () => {
    const events: RealtimeEvent[] = [];
    const realtime = createRealtime({
      url: 'http://cast.test',
      token: 't',
      fetch: createXhrFetch(FakeXhr),
      lastEventId: '1-0/a',
    });
    realtime.onAny((e) => events.push(e));
    await settle();
    const xhr = last();
    expect(xhr.method).toBe('GET');
    expect(xhr.headers['last-event-id']).toBe('1-0/a');
    xhr.answer(200, { 'content-type': 'text/event-stream' });
    xhr.receive(`\uFEFF${connectedFrame()}`);
    xhr.receive(eventFrame('2-0', 'a', 'x', 1).slice(0, 10));
    xhr.receive(eventFrame('2-0', 'a', 'x', 1).slice(10));
    await settle();
    expect(realtime.state).toBe('connected');
    expect(events).toEqual([{ type: 'x', data: 1, id: '2-0/a', channel: 'a' }]);
    realtime.destroy();
    expect(xhr.aborted).toBe(true);
  });

  it('reads an error answer as text so the server error reaches onError', async () => {
    const realtime = createRealtime({ url: 'http://cast.test', token: 't', fetch: createXhrFetch(FakeXhr) });
    const errors: unknown[] = [];
    realtime.onError((e) => errors.push(e));
    await settle();
    const xhr = last();
    xhr.answer(401, { 'content-type': 'application/json' });
    xhr.receive('{"error":{"code":"TOKEN_EXPIRED","message":"expired"}}');
    xhr.done();
    await settle();
    expect(errors).toEqual([expect.objectContaining({ code: 'TOKEN_EXPIRED', status: 401 })]);
  });

  it('rejects like fetch when the connection fails before an answer, so the client retries', async () => {
    const fetch = createXhrFetch(FakeXhr);
    const pending = fetch('http://x', { method: 'GET', headers: {}, signal: new AbortController().signal });
    last().onerror?.();
    await expect(pending).rejects.toThrow(TypeError);
  });

  it('ends the body when the stream completes, and fails it when the connection drops mid-stream', async () => {
    const fetch = createXhrFetch(FakeXhr);
    const res = await (async () => {
      const p = fetch('http://x', { method: 'GET', headers: {}, signal: new AbortController().signal });
      last().answer(200, { 'content-type': 'text/event-stream' });
      return p;
    })();
    const reader = res.body!.getReader();
    last().receive('a');
    expect(await reader.read()).toEqual({ done: false, value: 'a' });
    last().done();
    expect(await reader.read()).toEqual({ done: true });

    const controller = new AbortController();
    const p2 = fetch('http://x', { method: 'GET', headers: {}, signal: controller.signal });
    last().answer(200, { 'content-type': 'text/event-stream' });
    const reader2 = (await p2).body!.getReader();
    const read = reader2.read();
    controller.abort();
    await expect(read).rejects.toMatchObject({ name: 'AbortError' });
    expect(last().aborted).toBe(true);
  });
});
