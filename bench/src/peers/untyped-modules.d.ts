// sse-channel 4 ships no types; the engine narrows the constructor to what it uses.
declare module 'sse-channel' {
  const SseChannel: unknown;
  export default SseChannel;
}
