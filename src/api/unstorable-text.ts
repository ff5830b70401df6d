// Text PostgreSQL cannot store: U+0000 (refused in text and in jsonb) and unpaired UTF-16 surrogates (refused
// in jsonb, silently replaced in text). Refused at the door for every route, so a change is never half written:
// stored in its table, then failing in the audit log's jsonb.
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const unstorable = (text: string) => text.includes('\u0000') || UNPAIRED_SURROGATE.test(text);

/**
 * The name of the first field (`body.address.city`, `body.settings.0.value`) whose text, or whose own name,
 * cannot be stored; undefined when all can. Walks without recursion: a body may nest deeper than the stack.
 */
export function findUnstorableText(value: unknown, path: string): string | undefined {
  const pending: [unknown, string][] = [[value, path]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, at] = next;
    if (typeof item === 'string') {
      if (unstorable(item)) return at;
    } else if (item !== null && typeof item === 'object') {
      const entries = Object.entries(item);
      // Reversed onto the stack, so fields are looked at in their order.
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        if (unstorable(key)) return at;
        pending.push([child, `${at}.${key}`]);
      }
    }
  }
  return undefined;
}
