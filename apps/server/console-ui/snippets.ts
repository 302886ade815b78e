/** What the snippets are filled with. */
export interface SnippetInput {
  /** This server's origin, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  apiKey: string;
  /** The channels of the token and the stream. */
  channels: readonly string[];
  /** The event the publish snippet sends. */
  publish: { channel: string; event: string; data: unknown };
}

/** One copyable snippet. */
export interface Snippet {
  id: 'token-curl' | 'stream-client' | 'stream-js' | 'stream-dart' | 'publish-curl';
  label: string;
  /** Where and how it runs. */
  hint: string;
  code: string;
}

/** Quotes a word for POSIX shells: inside single quotes everything is literal but `'` itself. */
function sh(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A Dart single-quoted string literal. */
function dart(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'").replaceAll('$', '\\$').replaceAll('\n', '\\n')}'`;
}

/** A JavaScript string literal. */
function js(value: string): string {
  return JSON.stringify(value);
}

function curl(url: string, apiKey: string, body: unknown): string {
  return [
    `curl -X POST ${sh(url)} \\`,
    `  -H ${sh(`Authorization: Bearer ${apiKey}`)} \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d ${sh(JSON.stringify(body, null, 2))}`,
  ].join('\n');
}

/**
 * The snippets of the console, filled with this server's URL, the key and the
 * channels, so each runs as copied: a token request and a publish with curl,
 * a subscriber with `@cast/realtime-client`, and stream readers without a
 * package (JavaScript `fetch` for Node 20+ or a browser's devtools, and Dart)
 * that first ask for a token, then print every event.
 *
 * @param input - server URL, key, channels and the event to publish
 * @returns the snippets, in the order the console shows them
 * @example
 * ```ts
 * const [token] = buildSnippets({ baseUrl: location.origin, apiKey, channels: ['orders'], publish })
 * ```
 */
export function buildSnippets(input: SnippetInput): Snippet[] {
  const { baseUrl, apiKey, channels, publish } = input;
  const tokenBody = { channels, ttlSeconds: 3600 };
  const streamClient = [
    '// npm install @cast/realtime-client  (then run with Node.js 20+ as stream.mjs, or bundle it for a page)',
    '// In production your backend issues the token: never ship the secret key to clients.',
    "import { createRealtime } from '@cast/realtime-client';",
    '',
    `const baseUrl = ${js(baseUrl)};`,
    '',
    '// Called to connect, and again before the token expires.',
    'async function getToken() {',
    '  const res = await fetch(`${baseUrl}/push/tokens`, {',
    "    method: 'POST',",
    `    headers: { Authorization: ${js(`Bearer ${apiKey}`)}, 'Content-Type': 'application/json' },`,
    `    body: JSON.stringify({ channels: ${JSON.stringify(channels)} }),`,
    '  });',
    '  if (!res.ok) throw new Error(`token request failed: ${await res.text()}`);',
    '  return (await res.json()).token;',
    '}',
    '',
    'const realtime = createRealtime({ url: baseUrl, token: getToken });',
    "realtime.onConnectionChange((connected) => console.log(connected ? 'connected' : 'reconnecting'));",
    "// Every event; realtime.on('order.*', fn) takes only some.",
    'realtime.onAny((event) => console.log(event.type, event.channel, event.data));',
    'realtime.onError((error) => console.error(error.code, error.message));',
  ].join('\n');
  const streamJs = [
    '// Run with Node.js 20+ (save as stream.mjs) or paste into a browser console.',
    '// In production your backend issues the token: never ship the secret key to clients.',
    `const baseUrl = ${js(baseUrl)};`,
    '',
    'const tokenRes = await fetch(`${baseUrl}/push/tokens`, {',
    "  method: 'POST',",
    `  headers: { Authorization: ${js(`Bearer ${apiKey}`)}, 'Content-Type': 'application/json' },`,
    `  body: JSON.stringify({ channels: ${JSON.stringify(channels)} }),`,
    '});',
    'if (!tokenRes.ok) throw new Error(`token request failed: ${await tokenRes.text()}`);',
    'const { token } = await tokenRes.json();',
    '',
    'const res = await fetch(`${baseUrl}/push/stream?token=${encodeURIComponent(token)}`);',
    'if (!res.ok) throw new Error(`stream refused: ${await res.text()}`);',
    'const reader = res.body.getReader();',
    'const decoder = new TextDecoder();',
    "let buffer = '';",
    'for (;;) {',
    '  const { value, done } = await reader.read();',
    '  if (done) break;',
    '  buffer += decoder.decode(value, { stream: true });',
    '  // Frames end with a blank line; each carries one event: and one data: line.',
    '  let end;',
    "  while ((end = buffer.indexOf('\\n\\n')) !== -1) {",
    '    const frame = buffer.slice(0, end);',
    '    buffer = buffer.slice(end + 2);',
    "    let event = 'message';",
    "    let data = '';",
    "    for (const line of frame.split('\\n')) {",
    "      if (line.startsWith('event:')) event = line.slice(6).trim();",
    "      else if (line.startsWith('data:')) data = line.slice(5).trim();",
    '    }',
    '    if (data) console.log(event, JSON.parse(data));',
    '  }',
    '}',
  ].join('\n');
  const streamDart = [
    '// Run with `dart run stream.dart` (dart:io: Dart VM, Flutter on mobile and desktop).',
    '// In production your backend issues the token: never ship the secret key to clients.',
    "import 'dart:convert';",
    "import 'dart:io';",
    '',
    `const baseUrl = ${dart(baseUrl)};`,
    `const apiKey = ${dart(apiKey)};`,
    '',
    'Future<void> main() async {',
    '  final client = HttpClient();',
    "  final tokenRequest = await client.postUrl(Uri.parse('$baseUrl/push/tokens'));",
    "  tokenRequest.headers.set('Authorization', 'Bearer $apiKey');",
    '  tokenRequest.headers.contentType = ContentType.json;',
    `  tokenRequest.write(jsonEncode({'channels': [${channels.map(dart).join(', ')}]}));`,
    '  final tokenResponse = await tokenRequest.close();',
    '  final tokenBody = await tokenResponse.transform(utf8.decoder).join();',
    '  if (tokenResponse.statusCode != 200) {',
    "    throw HttpException('token request failed: $tokenBody');",
    '  }',
    "  final token = (jsonDecode(tokenBody) as Map<String, dynamic>)['token'] as String;",
    '',
    '  final streamRequest = await client.getUrl(',
    "    Uri.parse('$baseUrl/push/stream?token=${Uri.encodeComponent(token)}'),",
    '  );',
    '  final response = await streamRequest.close();',
    "  var buffer = '';",
    '  await for (final chunk in response.transform(utf8.decoder)) {',
    '    buffer += chunk;',
    "    var end = buffer.indexOf('\\n\\n');",
    '    while (end != -1) {',
    '      final frame = buffer.substring(0, end);',
    '      buffer = buffer.substring(end + 2);',
    "      var event = 'message';",
    "      var data = '';",
    "      for (final line in frame.split('\\n')) {",
    "        if (line.startsWith('event:')) {",
    '          event = line.substring(6).trim();',
    "        } else if (line.startsWith('data:')) {",
    '          data = line.substring(5).trim();',
    '        }',
    '      }',
    "      if (data.isNotEmpty) print('$event: ${jsonDecode(data)}');",
    "      end = buffer.indexOf('\\n\\n');",
    '    }',
    '  }',
    '}',
  ].join('\n');
  return [
    {
      id: 'token-curl',
      label: 'Token · curl',
      hint: 'Issue a stream token for these channels (your backend does this).',
      code: curl(`${baseUrl}/push/tokens`, apiKey, tokenBody),
    },
    {
      id: 'stream-client',
      label: 'Stream · realtime client',
      hint: 'Subscribe with @cast/realtime-client: reconnects, refreshes its token and resumes by itself.',
      code: streamClient,
    },
    {
      id: 'stream-js',
      label: 'Stream · fetch (no package)',
      hint: 'Read the stream with fetch, no package or bundler: Node.js 20+ (as an .mjs file) or a browser console.',
      code: streamJs,
    },
    {
      id: 'stream-dart',
      label: 'Stream · Dart',
      hint: 'Read the stream with dart:io HttpClient.',
      code: streamDart,
    },
    {
      id: 'publish-curl',
      label: 'Publish · curl',
      hint: 'Publish the event of the form above.',
      code: curl(`${baseUrl}/push/publish`, apiKey, publish),
    },
  ];
}
