// Browser entry of the IDE, bundled by scripts/build-ide.ts (no JSX: the project's
// tsconfig is for Node, and createElement keeps this file plain TypeScript).
import { createElement as h, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher, type Fetcher } from '@graphiql/toolkit';
import { createClient, type Client } from 'graphql-ws';
import type { IdeConfig } from './page.js';

const config = JSON.parse(document.getElementById('ide-config')!.textContent!) as IdeConfig;
const httpUrl = new URL(config.graphqlPath, location.href).href;
const wsUrl = httpUrl.replace(/^http/, 'ws');

const DEFAULT_QUERY = `# Pick a dev token above (or set Authorization in Headers), then run: Ctrl-Enter.
{
  securityTokens { id symbol exemption status }
}
`;

const headersFor = (token: string): string => (token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : '');

/**
 * HTTP for queries and mutations, graphql-ws on the same path for subscriptions.
 * The socket authenticates once, at connect, with connection params; a new
 * Authorization header therefore gets a new (lazily connecting) socket.
 */
function authorisingFetcher(): Fetcher {
  let current: { authorization: string; ws: Client; fetcher: Fetcher } | undefined;
  return (params, opts) => {
    const headers: Record<string, string> = { ...(opts?.headers as Record<string, string> | undefined) };
    const authorization = headers.Authorization ?? headers.authorization ?? '';
    if (!current || current.authorization !== authorization) {
      void current?.ws.dispose();
      const ws = createClient({ url: wsUrl, lazy: true, retryAttempts: 0, connectionParams: authorization ? { authorization } : {} });
      current = { authorization, ws, fetcher: createGraphiQLFetcher({ url: httpUrl, wsClient: ws }) };
    }
    return current.fetcher(params, { ...opts, headers });
  };
}

function TokenPicker(p: { token: string; onChange(token: string): void }) {
  if (!config.devTokens.length) {
    return h('span', { className: 'ide-hint' }, 'Set "Authorization": "Bearer <jwt>" in the Headers tab below.');
  }
  return h('label', null, 'Dev token ',
    h('select', { id: 'dev-token', value: p.token, onChange: (e: { target: { value: string } }) => p.onChange(e.target.value) },
      h('option', { value: '' }, 'none (set Authorization in Headers)'),
      ...config.devTokens.map((t) => h('option', { key: t.label, value: t.token }, t.label))));
}

function App() {
  const [token, setToken] = useState(config.devTokens[0]?.token ?? '');
  const fetcher = useMemo(authorisingFetcher, []);
  return h('div', { className: 'ide-frame' },
    h('header', { className: 'ide-bar' },
      h('strong', null, 'tokenstack'),
      h(TokenPicker, { token, onChange: setToken }),
      h('span', { className: 'ide-hint' }, `HTTP ${httpUrl} · subscriptions ${wsUrl}`)),
    h('main', { className: 'ide-main' },
      h(GraphiQL, {
        fetcher,
        // Controlled: picking a token rewrites the Headers tab, where it stays visible and editable.
        headers: headersFor(token),
        defaultQuery: DEFAULT_QUERY,
        shouldPersistHeaders: false,
        defaultEditorToolsVisibility: 'headers',
      })));
}

createRoot(document.getElementById('ide-root')!).render(h(App));
