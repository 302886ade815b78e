import { defineConfig } from 'vitepress';

// The sidebar is the table of contents; every page it names must exist, and
// VitePress fails the build on a dead link (ignoreDeadLinks stays false).
export default defineConfig({
  title: 'Cast',
  description: 'Realtime events from your backend to browsers, apps and servers over Server-Sent Events.',
  cleanUrls: true,
  lastUpdated: false,
  srcExclude: ['**/README.md', 'snippets/**', 'scripts/**'],
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/guide/quick-start' },
      { text: 'HTTP API', link: '/reference/http-api' },
      { text: 'Packages', link: '/api/' },
      { text: 'Self-hosting', link: '/self-hosting/' },
    ],
    sidebar: [
      {
        text: 'Guide',
        items: [
          { text: 'Quick start', link: '/guide/quick-start' },
          { text: 'Concepts', link: '/guide/concepts' },
          { text: 'Realtime client', link: '/guide/realtime-client' },
          { text: 'React', link: '/guide/react' },
          { text: 'Server SDK and CLI', link: '/guide/server-sdk' },
          { text: 'Presence and occupancy', link: '/guide/presence' },
          { text: 'Patterns', link: '/guide/patterns' },
          { text: 'Examples', link: '/guide/examples' },
          { text: 'Event bus', link: '/guide/event-bus' },
          { text: 'Database change feeds', link: '/guide/change-feeds' },
          { text: 'Revocation and disconnect', link: '/guide/revocation' },
          { text: 'Webhooks', link: '/guide/webhooks' },
          { text: 'Developer console', link: '/guide/console' },
        ],
      },
      {
        text: 'Reference',
        items: [
          { text: 'HTTP API', link: '/reference/http-api' },
          { text: 'Error codes', link: '/reference/errors' },
          { text: 'OpenAPI', link: '/reference/openapi' },
          { text: 'Configuration', link: '/self-hosting/configuration' },
        ],
      },
      {
        // Generated from the packages' TSDoc before every build (scripts/api-reference.ts).
        text: 'Package API',
        items: [
          { text: 'Overview', link: '/api/' },
          { text: '@cast/realtime-client', link: '/api/realtime-client' },
          { text: '@cast/react', link: '/api/react' },
          { text: '@cast/server-sdk', link: '/api/server-sdk' },
          { text: '@cast/protocol', link: '/api/protocol' },
        ],
      },
      {
        text: 'Self-hosting',
        items: [
          { text: 'Running the server', link: '/self-hosting/' },
          { text: 'Configuration', link: '/self-hosting/configuration' },
          { text: 'Behind a proxy', link: '/self-hosting/proxy' },
          { text: 'Redis cluster', link: '/self-hosting/cluster' },
        ],
      },
      {
        text: 'More',
        items: [
          { text: 'Security model', link: '/security' },
          { text: 'Benchmarks', link: '/benchmarks' },
          { text: 'Troubleshooting', link: '/troubleshooting' },
          { text: 'Releasing', link: '/contributing/releasing' },
        ],
      },
    ],
    search: { provider: 'local' },
    outline: [2, 3],
  },
});
