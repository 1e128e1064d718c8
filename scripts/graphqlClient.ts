/** A plain GraphQL-over-HTTP client, as any integrator would write one (seed, demo and tests use it). */
export interface GraphQLResponse<D = Record<string, unknown>> {
  status: number;
  body: { data?: D | null; errors?: { message: string; path?: unknown[]; extensions?: Record<string, unknown> }[] };
}

export async function gql<D = Record<string, unknown>>(url: string, token: string | undefined, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<D>> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: r.status, body: (await r.json()) as GraphQLResponse<D>['body'] };
}

/** Data of a response that must have no errors. */
export async function gqlOk<D = unknown>(url: string, token: string, query: string, variables?: Record<string, unknown>): Promise<D> {
  const r = await gql<D>(url, token, query, variables);
  if (r.body.errors?.length || r.status !== 200) throw new Error(`GraphQL ${r.status}: ${JSON.stringify(r.body.errors)}`);
  return r.body.data as D;
}

/** gqlOk as one caller at one endpoint: each call names the shape of the data it reads. */
export type Ask = <D>(query: string, variables?: Record<string, unknown>) => Promise<D>;

export const askAs = (url: string, token: string): Ask => (query, variables) => gqlOk(url, token, query, variables);
