// docker's `label` filter, the same for containers, images, volumes, networks
// and events (its filters.MatchKVList).

/** "key" matches when the label is set (to anything), "key=value" when it is set to exactly value (which may hold "="). */
export function labelMatches(labels: Readonly<Record<string, string>> | null | undefined, filter: string): boolean {
  const eq = filter.indexOf("=");
  const key = eq < 0 ? filter : filter.slice(0, eq);
  if (!labels || !Object.hasOwn(labels, key)) return false;
  return eq < 0 || labels[key] === filter.slice(eq + 1);
}
