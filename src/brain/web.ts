import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { isPrivateAddress } from '../sandbox/addresses.ts';
import { ToolError } from '../sandbox/interface.ts';

/**
 * The toolset's server tools, run on the host by the brain (never in the sandbox). `web_fetch` goes
 * through an egress policy: the tool's `allowed_domains` / `blocked_domains`, and never a private,
 * loopback or link-local address (the host's own services: oma, its database) unless that host is
 * listed in `allowed_domains` by name. Every redirect is checked again. `web_search` needs a search
 * provider; oma ships none, so it says so.
 */

export interface WebToolConfig {
  allowed_domains?: string[];
  blocked_domains?: string[];
  max_content_tokens?: number | null;
}

/** A pluggable web search (none by default). */
export interface SearchProvider {
  search(query: string, options: { signal?: AbortSignal; allowedDomains?: string[]; blockedDomains?: string[] }): Promise<{ title: string; url: string; snippet: string }[]>;
}

/** Run a server tool on the host; failures are tool errors like any tool's. */
export async function runHostTool(name: string, input: Record<string, unknown>, config: WebToolConfig, search: SearchProvider | undefined, signal?: AbortSignal) {
  const started = performance.now();
  const trace = () => ({ sandbox: 'host', executeMs: Math.round((performance.now() - started) * 100) / 100 });
  try {
    const text = name === 'web_fetch' ? await webFetch(input, config, signal) : await webSearch(input, config, search, signal);
    return { text: text === '' ? '(no content)' : text, isError: false, trace: trace() };
  } catch (error) {
    return { text: error instanceof ToolError ? error.message : `${name}: ${(error as Error).message}`, isError: true, trace: trace() };
  }
}

const MAX_BYTES = 2 * 1024 * 1024;
const MAX_TEXT = 100 * 1024;
const MAX_REDIRECTS = 5;

export async function webSearch(input: Record<string, unknown>, config: WebToolConfig, provider: SearchProvider | undefined, signal?: AbortSignal): Promise<string> {
  const query = typeof input.query === 'string' ? input.query.trim() : '';
  if (query === '') throw new ToolError('web_search: query is required');
  if (!provider) throw new ToolError('web_search: no search provider is configured on this oma server, so web search is unavailable; answer from what you know or fetch a known URL with web_fetch');
  const results = await provider.search(query, { signal, allowedDomains: config.allowed_domains, blockedDomains: config.blocked_domains });
  if (results.length === 0) return 'no results';
  return results.map((result, index) => `${index + 1}. ${result.title}\n   ${result.url}\n   ${result.snippet}`).join('\n');
}

function matches(host: string, domains: string[] | undefined): boolean {
  return (domains ?? []).some((domain) => {
    const bare = domain.toLowerCase().replace(/^\*\./, '').replace(/\/.*$/, '');
    return host === bare || host.endsWith(`.${bare}`);
  });
}

/** Refuses what the policy refuses, with the reason the model sees. */
async function checkUrl(url: URL, config: WebToolConfig) {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ToolError(`web_fetch: only http and https URLs can be fetched, not ${url.protocol}`);
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (config.blocked_domains && matches(host, config.blocked_domains)) throw new ToolError(`web_fetch: ${host} is blocked for this agent (blocked_domains)`);
  if (config.allowed_domains && !matches(host, config.allowed_domains)) throw new ToolError(`web_fetch: ${host} is not in this agent's allowed_domains`);
  const explicitlyAllowed = matches(host, config.allowed_domains);
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((entry) => entry.address);
  if (addresses.length === 0) throw new ToolError(`web_fetch: ${host} could not be resolved`);
  if (!explicitlyAllowed && addresses.some(isPrivateAddress)) {
    throw new ToolError(`web_fetch: ${host} is a private or local address; oma fetches those only for hosts listed in allowed_domains`);
  }
}

export async function webFetch(input: Record<string, unknown>, config: WebToolConfig, signal?: AbortSignal): Promise<string> {
  if (typeof input.url !== 'string' || input.url === '') throw new ToolError('web_fetch: url is required');
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    throw new ToolError(`web_fetch: ${input.url} is not a URL`);
  }
  const timeout = AbortSignal.timeout(30_000);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  for (let hop = 0; ; hop++) {
    await checkUrl(url, config);
    let response: Response;
    try {
      response = await fetch(url, { redirect: 'manual', signal: combined, headers: { 'user-agent': 'oma-web-fetch/1', accept: 'text/html, text/plain, application/json, */*;q=0.5' } });
    } catch (error) {
      throw new ToolError(`web_fetch: ${url.href}: ${timeout.aborted ? 'timed out after 30 s' : (error as Error).message}`);
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      if (hop >= MAX_REDIRECTS) throw new ToolError(`web_fetch: more than ${MAX_REDIRECTS} redirects from ${input.url}`);
      url = new URL(location, url);
      continue;
    }
    if (!response.ok) throw new ToolError(`web_fetch: ${url.href} answered ${response.status} ${response.statusText}`);
    const type = (response.headers.get('content-type') ?? 'text/plain').split(';')[0]!.trim().toLowerCase();
    if (!/^text\/|json|xml/.test(type)) throw new ToolError(`web_fetch: ${url.href} is ${type}; only text, HTML, JSON and XML pages can be read`);
    const body = await readCapped(response, MAX_BYTES);
    const text = type === 'text/html' ? htmlToText(body) : body;
    const limit = config.max_content_tokens ? Math.min(MAX_TEXT, config.max_content_tokens * 4) : MAX_TEXT;
    return text.length > limit ? `${text.slice(0, limit)}\n[content truncated at ${limit} characters]` : text;
  }
}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    size += value.length;
    if (size >= maxBytes) {
      await reader.cancel();
      break;
    }
  }
  return Buffer.concat(parts).subarray(0, maxBytes).toString('utf8');
}

/** Readable text from HTML: scripts and styles dropped, tags removed, entities decoded, blank runs collapsed. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|noscript)[^>]*>[\s\S]*?<\/\1>/gi, '')
    .replace(/<br\s*\/?>|<\/(p|div|h[1-6]|li|tr|section|article)>/gi, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/[ \t]+/g, ' ')
    .replace(/\n\s*\n+/g, '\n\n')
    .trim();
}
