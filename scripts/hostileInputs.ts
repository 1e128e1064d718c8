/** Fragments that each spread the next one twice: 2^k copies of the leaf in a document of a few hundred bytes. */
export function fragmentBomb(k: number, root = 'Query', leaf = '__typename', operation = ''): string {
  let q = `${operation}{ ...F0 }\n`;
  for (let i = 0; i < k; i++) q += `fragment F${i} on ${root} { ...F${i + 1} ...F${i + 1} }\n`;
  return q + `fragment F${k} on ${root} { ${leaf} }\n`;
}
