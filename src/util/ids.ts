// The short form of ids and digests that docker prints and names things by.

/** docker's stringid.TruncateID: drops an "algorithm:" prefix ("sha256:") and keeps the first 12 characters. */
export function shortId(id: string): string {
  const colon = id.indexOf(":");
  return (colon >= 0 ? id.slice(colon + 1) : id).slice(0, 12);
}
