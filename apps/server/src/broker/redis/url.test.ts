import { describe, expect, it } from 'vitest';
import { parseRedisUrl } from './url.js';

describe('parseRedisUrl', () => {
  it('keeps a redis:// or rediss:// URL as one Redis', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379/2' });
    expect(parseRedisUrl(' rediss://u:p@h:6380 ')).toEqual({ kind: 'single', url: 'rediss://u:p@h:6380' });
  });

  it('reads a Redis Cluster by its seeds, credentials and TLS', () => {
    expect(parseRedisUrl('redis+cluster://10.0.0.5:7000,10.0.0.6:7001')).toEqual({
      kind: 'cluster',
      seeds: [
        { host: '10.0.0.5', port: 7000 },
        { host: '10.0.0.6', port: 7001 },
      ],
      tls: false,
      username: undefined,
      password: undefined,
    });
    expect(parseRedisUrl('rediss+cluster://cast:s%40cret@r1.example.com,[::1]:7002')).toEqual({
      kind: 'cluster',
      seeds: [
        { host: 'r1.example.com', port: 6379 },
        { host: '::1', port: 7002 },
      ],
      tls: true,
      username: 'cast',
      password: 's@cret',
    });
    expect(parseRedisUrl('redis+cluster://:pw@h:7000')).toMatchObject({ username: undefined, password: 'pw' });
  });

  it('refuses anything else with one line saying the accepted forms', () => {
    expect(() => parseRedisUrl('http://h:6379')).toThrow(/redis\+cluster:\/\/host:port,host:port/);
    expect(() => parseRedisUrl('redis+cluster://')).toThrow(/at least one host:port/);
    expect(() => parseRedisUrl('redis+cluster://h:99999')).toThrow(/"h:99999" is not one/);
    expect(() => parseRedisUrl('redis+cluster://h:7000/3')).toThrow(/"h:7000\/3" is not one/);
  });
});
