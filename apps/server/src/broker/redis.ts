import type { Config } from '../config.js';
import type { Broker } from './types.js';

/**
 * The Redis broker (scale-out over several nodes).
 * TODO(issue 5): implement; until then a configured CAST_REDIS_URL stops the start with a clear message.
 */
export async function createRedisBroker(_config: Config): Promise<Broker> {
  throw new Error('CAST_REDIS_URL is set but this build has no Redis broker yet; unset it to use the embedded broker.');
}
