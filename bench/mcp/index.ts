/**
 * MCP proxy benchmark: what oma's host-side MCP proxy (src/mcp/client.ts) adds to a tool call.
 *
 *   npm run bench -- mcp
 *
 * Per-call latency of the `echo` tool of the test MCP server (src/testing/mcp-server.ts: the MCP
 * SDK's McpServer over Streamable HTTP on 127.0.0.1, bearer checked on every request), called one at
 * a time:
 * - direct: a plain MCP SDK Client whose transport sends a static Authorization header;
 * - proxy: an `McpConnection` whose token source is asked for the token on every HTTP request (an
 *   async in-memory source, as the vault's would be once its token is decrypted and cached).
 * Both connect first (not measured), then WARMUP calls each, then CALLS calls each, in alternating
 * blocks of BLOCK so that a drift of the machine (or of the JIT) hits both alike. The added latency
 * is the difference of the medians and of the means; the server's own time is in both.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { performance } from 'node:perf_hooks';
import { McpConnection, type McpTokenSource } from '../../src/mcp/client.ts';
import { startMcpServer } from '../../src/testing/mcp-server.ts';
import { environmentLine, ms, summarise } from '../lib/stats.ts';
import { Table } from '../lib/table.ts';

const WARMUP = 50;
const CALLS = 500;
const BLOCK = 50;

type Caller = (text: string) => Promise<void>;

async function timeCalls(call: Caller, count: number, samples: number[]) {
  for (let index = 0; index < count; index++) {
    const started = performance.now();
    await call(`call ${index}`);
    samples.push(performance.now() - started);
  }
}

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

export async function main(): Promise<void> {
  console.log(`Environment: ${environmentLine()}`);
  const server = await startMcpServer();
  const { access_token } = server.issueTokens();
  const direct = new Client({ name: 'bench-direct', version: '1.0.0' });
  const tokens: McpTokenSource = {
    current: async () => access_token,
    refresh: async () => {
      throw new Error('the benchmark token does not expire');
    },
  };
  const proxy = new McpConnection({ name: 'bench', url: server.url }, tokens);
  try {
    await direct.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { authorization: `Bearer ${access_token}` } } }));
    const callers: Record<'direct' | 'proxy', Caller> = {
      direct: async (text) => {
        const result = await direct.callTool({ name: 'echo', arguments: { text } });
        if (result.isError) throw new Error(`direct echo failed: ${JSON.stringify(result.content)}`);
      },
      proxy: async (text) => {
        const result = await proxy.callTool('echo', { text });
        if (result.isError) throw new Error(`proxied echo failed: ${JSON.stringify(result.content)}`);
      },
    };
    const samples = { direct: [] as number[], proxy: [] as number[] };
    const warm: number[] = [];
    await timeCalls(callers.direct, WARMUP, warm);
    await timeCalls(callers.proxy, WARMUP, warm);
    const started = performance.now();
    for (let done = 0; done < CALLS; done += BLOCK) {
      for (const name of ['direct', 'proxy'] as const) await timeCalls(callers[name], Math.min(BLOCK, CALLS - done), samples[name]);
    }
    const seconds = (performance.now() - started) / 1_000;
    const expected = 2 * (WARMUP + CALLS);
    const seen = server.calls.filter((call) => call.tool === 'echo' && call.authorization === `Bearer ${access_token}`).length;
    if (seen !== expected) throw new Error(`the server saw ${seen} authorised echo calls, expected ${expected}`);

    const table = new Table(
      'MCP tool call latency: direct SDK client vs oma McpConnection',
      `${CALLS} sequential \`echo\` calls per client after ${WARMUP} warm-up calls each, in alternating blocks of ${BLOCK}, to the test MCP server on 127.0.0.1 (stateless Streamable HTTP, SSE answers, bearer checked per request); ${seconds.toFixed(1)} s in all`,
      ['direct', 'McpConnection', 'added'],
    );
    const direct50 = summarise(samples.direct);
    const proxy50 = summarise(samples.proxy);
    table.record('p50 (ms)', 'direct', ms(direct50.p50));
    table.record('p50 (ms)', 'McpConnection', ms(proxy50.p50));
    table.record('p50 (ms)', 'added', ms(proxy50.p50 - direct50.p50));
    table.record('p99 (ms)', 'direct', ms(direct50.p99));
    table.record('p99 (ms)', 'McpConnection', ms(proxy50.p99));
    table.record('p99 (ms)', 'added', ms(proxy50.p99 - direct50.p99));
    table.record('mean (ms)', 'direct', ms(mean(samples.direct)));
    table.record('mean (ms)', 'McpConnection', ms(mean(samples.proxy)));
    table.record('mean (ms)', 'added', ms(mean(samples.proxy) - mean(samples.direct)));
    table.print();
    console.log(`\nThe server saw all ${expected} calls with the bearer token.`);
  } finally {
    await Promise.allSettled([direct.close(), proxy.close()]);
    await server.close();
  }
}
