/** One seed node of a Redis Cluster. */
export interface RedisSeed {
  host: string;
  port: number;
}

/** What CAST_REDIS_URL names: one Redis, or a Redis Cluster by its seed nodes. */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; seeds: RedisSeed[]; tls: boolean; username: string | undefined; password: string | undefined };

const CLUSTER = /^(rediss?)\+cluster:\/\/(.*)$/;

/**
 * Reads CAST_REDIS_URL: `redis://` / `rediss://` name one Redis;
 * `redis+cluster://[user:password@]host:port,host:port` (or `rediss+cluster://`
 * for TLS) names a Redis Cluster by any of its masters (the rest are
 * discovered). A cluster URL takes no database number: a cluster has only 0.
 *
 * @param raw - the variable's value
 * @returns the target
 * @throws Error with one line saying what is wrong
 * @example
 * ```ts
 * parseRedisUrl('redis+cluster://10.0.0.5:7000,10.0.0.6:7000')
 * // { kind: 'cluster', seeds: [{ host: '10.0.0.5', port: 7000 }, { host: '10.0.0.6', port: 7000 }], tls: false, ... }
 * ```
 */
export function parseRedisUrl(raw: string): RedisTarget {
  const url = raw.trim();
  const cluster = CLUSTER.exec(url);
  if (!cluster) {
    if (!/^rediss?:\/\/./.test(url)) {
      throw new Error(
        'expected redis://host:port, rediss://host:port, or redis+cluster://host:port,host:port for a Redis Cluster (e.g. redis://127.0.0.1:6379).',
      );
    }
    return { kind: 'single', url };
  }
  let rest = cluster[2] as string;
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(':');
    username = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : auth) || undefined;
    password = colon >= 0 ? decodeURIComponent(auth.slice(colon + 1)) || undefined : undefined;
  }
  rest = rest.replace(/\/0?$/, '');
  const seeds: RedisSeed[] = [];
  for (const part of rest.split(',')) {
    const entry = part.trim();
    if (!entry) continue;
    const m = /^(\[[0-9A-Fa-f:.]+\]|[^:/[\]\s]+)(?::(\d{1,5}))?$/.exec(entry);
    const port = m?.[2] === undefined ? 6379 : Number(m[2]);
    if (!m || port < 1 || port > 65535) {
      throw new Error(
        `a Redis Cluster URL lists host:port seeds separated by commas; "${entry}" is not one (e.g. redis+cluster://10.0.0.5:7000,10.0.0.6:7000).`,
      );
    }
    seeds.push({ host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port });
  }
  if (seeds.length === 0)
    throw new Error('a Redis Cluster URL needs at least one host:port seed (e.g. redis+cluster://10.0.0.5:7000).');
  return { kind: 'cluster', seeds, tls: cluster[1] === 'rediss', username, password };
}
