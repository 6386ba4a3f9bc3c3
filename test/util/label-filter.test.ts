// The label filter shared by ps, images, volume ls, network ls and events (docker's filters.MatchKVList).
import assert from "node:assert/strict";
import { it } from "node:test";
import { labelMatches } from "../../src/util/label-filter.ts";

void it("label=key needs the label; label=key=value needs that value, which may hold '='", () => {
  const labels = { team: "a", empty: "", url: "a=b=c" };
  assert.equal(labelMatches(labels, "team"), true);
  assert.equal(labelMatches(labels, "team=a"), true);
  assert.equal(labelMatches(labels, "team=b"), false);
  assert.equal(labelMatches(labels, "empty"), true);
  assert.equal(labelMatches(labels, "empty="), true);
  assert.equal(labelMatches(labels, "team="), false);
  assert.equal(labelMatches(labels, "url=a=b=c"), true);
  assert.equal(labelMatches(labels, "url=a"), false);
  assert.equal(labelMatches(labels, "other"), false);
  assert.equal(labelMatches({}, "toString"), false, "not a label: a property every object has");
  assert.equal(labelMatches(null, "team"), false);
  assert.equal(labelMatches(undefined, "team"), false);
});
