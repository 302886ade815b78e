#!/usr/bin/env node
import { ConfigError, loadConfig } from './config.js';
import { startServer } from './server.js';

const USAGE = `Usage: cast-server                 starts the server (configured by environment variables)
       cast-server watch <install|remove|list> [table ...] [--print]
                                   installs, removes or lists the change-feed triggers

\`npx @cast/server\` runs cast-server; \`cast-server watch --help\` explains watch.`;

async function main(): Promise<void> {
  // One bin: npx runs only the bin named after the package when there are several.
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'watch') {
    const { runWatch } = await import('./cli/watch.js');
    process.exitCode = await runWatch(rest, process.env);
    return;
  }
  if (command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  if (command !== undefined) {
    console.error(`cast-server: unknown argument ${command}\n\n${USAGE}`);
    process.exit(2);
  }
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`cast: invalid configuration: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  let server;
  try {
    server = await startServer(config);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${config.port} is already in use; set PORT to a free port` : e.message;
    console.error(`cast: cannot start: ${why}`);
    process.exit(1);
  }
  const { url } = server;
  console.log(`Cast server listening on ${url} (${server.deps.broker.kind} broker)`);
  if (config.console)
    console.log(`Console: ${url}/console/ (subscribe and publish from the browser; CAST_CONSOLE=off removes it)`);
  if (config.dev) {
    console.log(
      [
        '',
        `Development credentials (kept in ${config.dev.file}; set CAST_API_KEYS and CAST_SIGNING_SECRET in production):`,
        `  tenant:  ${config.dev.tenant}`,
        `  API key: ${config.dev.apiKey}`,
        '',
        'Issue a token:',
        `  curl -X POST ${url}/push/tokens -H "Authorization: Bearer ${config.dev.apiKey}" -H "Content-Type: application/json" -d '{"channels":["orders"]}'`,
        'Publish:',
        `  curl -X POST ${url}/push/publish -H "Authorization: Bearer ${config.dev.apiKey}" -H "Content-Type: application/json" -d '{"channel":"orders","event":"order.created","data":{"orderId":"abc123"}}'`,
        '',
      ].join('\n'),
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`cast: ${signal} received, closing streams`);
    server
      .close()
      .then(() => process.exit(0))
      .catch((err) => {
        console.error('cast: error while stopping', err);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  console.error(`cast: fatal: ${(err as Error).message}`);
  process.exit(1);
});
