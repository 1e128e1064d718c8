import type { DevToken } from './devUsers.js';

/** What the page hands the browser bundle (gateway/ide/app.ts reads it from #ide-config). */
export interface IdeConfig {
  graphqlPath: string;
  subscriptionPath: string;
  devTokens: DevToken[];
}

// JSON inside <script> must not be able to close the tag.
const scriptSafeJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');

export function idePage(config: IdeConfig): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tokenstack GraphQL IDE</title>
<link rel="stylesheet" href="/ide/ide.css">
</head>
<body>
<div id="ide-root"></div>
<script id="ide-config" type="application/json">${scriptSafeJson(config)}</script>
<script src="/ide/ide.js"></script>
</body>
</html>
`;
}
