import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { describeBrain, newSession, userText, waitForIdle } from './support.ts';

/** A loopback web server: a page, a redirect to it, a binary file. */
let site: Server;
let origin = '';
before(async () => {
  site = createServer((request, response) => {
    if (request.url === '/page') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end('<html><head><style>p{}</style><script>var secret = 1</script></head><body><h1>Title</h1><p>Hello &amp; welcome.</p></body></html>');
    } else if (request.url === '/redirect') {
      response.writeHead(302, { location: '/page' });
      response.end();
    } else {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.end(Buffer.alloc(10));
    }
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
});
after(() => site?.close());

const results = (events: Record<string, any>[]) => events.filter((event) => event.type === 'agent.tool_result').map((event) => [event.is_error, event.content[0].text]);
const fetchUse = (url: string) => ({ type: 'tool_use' as const, name: 'web_fetch', input: { url } });

describeBrain('web tools', (harness) => {
  it('[HANDS-7] web_fetch runs on the host: pages as text, redirects followed and checked; local addresses only for hosts listed in allowed_domains', async () => {
    const { client, scripts, sandbox } = harness();
    scripts.add('fetch-allowed', [{ content: [fetchUse(`${origin}/redirect`), fetchUse(`${origin}/binary`)] }, { content: [{ type: 'text', text: 'Read it.' }] }]);
    const allowed = await newSession(client, { tools: [{ type: 'agent_toolset_20260401', configs: [{ name: 'web_fetch', allowed_domains: ['127.0.0.1'] }] }] });
    await client.beta.sessions.events.send(allowed.id, { events: [userText('[fetch-allowed] read')] });
    const fetched = results(await waitForIdle(client, allowed.id)).sort();
    assert.deepEqual(fetched, [
      [false, 'Title\nHello & welcome.'],
      [true, `web_fetch: ${origin}/binary is application/octet-stream; only text, HTML, JSON and XML pages can be read`],
    ]);
    assert.equal(sandbox.callsOf(allowed.id).length, 0, 'not in the sandbox');

    // Every spelling of loopback: an IPv4-mapped IPv6 literal (the URL parser turns it into ::ffff:7f00:1) too.
    const mapped = origin.replace('127.0.0.1', '[::ffff:127.0.0.1]');
    scripts.add('fetch-local', [{ content: [fetchUse(`${origin}/page`), fetchUse('http://localhost:5432/'), fetchUse('file:///etc/passwd'), fetchUse(`${mapped}/page`)] }, { content: [{ type: 'text', text: 'Refused.' }] }]);
    const open = await newSession(client);
    await client.beta.sessions.events.send(open.id, { events: [userText('[fetch-local] read')] });
    const refused = results(await waitForIdle(client, open.id)).sort();
    assert.deepEqual(refused, [
      [true, 'web_fetch: 127.0.0.1 is a private or local address; oma fetches those only for hosts listed in allowed_domains'],
      [true, 'web_fetch: localhost is a private or local address; oma fetches those only for hosts listed in allowed_domains'],
      [true, 'web_fetch: only http and https URLs can be fetched, not file:'],
      [true, 'web_fetch: ::ffff:7f00:1 is a private or local address; oma fetches those only for hosts listed in allowed_domains'],
    ].sort());

    scripts.add('fetch-blocked', [{ content: [fetchUse(`${origin}/page`)] }, { content: [{ type: 'text', text: 'Blocked.' }] }]);
    const blocked = await newSession(client, { tools: [{ type: 'agent_toolset_20260401', configs: [{ name: 'web_fetch', blocked_domains: ['127.0.0.1'] }] }] });
    await client.beta.sessions.events.send(blocked.id, { events: [userText('[fetch-blocked] read')] });
    assert.deepEqual(results(await waitForIdle(client, blocked.id)), [[true, 'web_fetch: 127.0.0.1 is blocked for this agent (blocked_domains)']]);
  });

  it('[HANDS-8] web_search with no search provider configured is a clear tool error, not a pretend answer', async () => {
    const { client, scripts } = harness();
    scripts.add('search', [{ content: [{ type: 'tool_use', name: 'web_search', input: { query: 'oma' } }] }, { content: [{ type: 'text', text: 'No search.' }] }]);
    const session = await newSession(client);
    await client.beta.sessions.events.send(session.id, { events: [userText('[search] look it up')] });
    const [[isError, text]] = results(await waitForIdle(client, session.id)) as [[boolean, string]];
    assert.equal(isError, true);
    assert.match(text, /^web_search: no search provider is configured/);
  });
});
