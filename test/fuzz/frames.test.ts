// Fuzzing the host's reader of guest→host frames (the VM's control and exec
// channels: one type byte, a 4-byte length, the payload). The guest is
// hostile: its bytes arrive split anywhere, and garbage must not crash the reader.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { encodeFrame, exitStatus, FrameReader, FrameTooLarge, parseAck, type Frame } from "../../src/vm/shim/frames.ts";
import { describe, fuzzParams } from "./fuzz.ts";

/** Cuts bytes at the given fractions of their length. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const a of at) {
    out.push(bytes.subarray(from, a));
    from = a;
  }
  out.push(bytes.subarray(from));
  return out;
}

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 });

void test("frames split anywhere are read back whole and in order", () => {
  const frame = fc.record({ type: fc.constantFrom("A", "O", "R", "Q", "X", "I", "E", "S", "W", "\u00ff", "\u0000"), payload: fc.uint8Array({ maxLength: 300 }) });
  fc.assert(
    fc.property(fc.array(frame, { maxLength: 12 }), cuts, (frames, c) => {
      const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, Buffer.from(f.payload))));
      const reader = new FrameReader();
      const got: Frame[] = [];
      for (const chunk of split(bytes, c)) got.push(...reader.push(chunk));
      assert.deepEqual(
        got.map((f) => [f.type, Buffer.from(f.payload).toString("hex")]),
        frames.map((f) => [f.type, Buffer.from(f.payload).toString("hex")]),
      );
    }),
    fuzzParams(1341, 2000),
  );
});

void test("random guest bytes split anywhere give frames or the refusal of an oversized one, never another error, and no more than was given", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), cuts, (raw, c) => {
      const reader = new FrameReader();
      let payloadBytes = 0;
      let frames = 0;
      for (const chunk of split(Buffer.from(raw), c)) {
        try {
          for (const f of reader.push(chunk)) {
            payloadBytes += f.payload.length;
            frames++;
            // Every answer a guest can send is read without an exception.
            if (f.type === "A") parseAck(f.payload);
          }
        } catch (e) {
          // A header announcing more than the protocol's maximum ends the session, before anything is buffered.
          if (e instanceof FrameTooLarge) return;
          assert.fail(`the frame reader threw: ${describe(e)}`);
        }
      }
      assert.ok(payloadBytes + 5 * frames <= raw.length);
    }),
    fuzzParams(1342, 2000),
  );
});

// The exit code in a guest's answer ("E<code> <message>") and in its exit frame
// ('Q') was taken as any number, and the exec proxy passed it to process.exit,
// which throws a RangeError for Infinity, 1e20 or 1.5.
void test("an exit code a guest sends is always a valid exit status", () => {
  fc.assert(
    fc.property(fc.oneof(fc.stringMatching(/^\d{1,400}$/), fc.nat().map(String)), fc.string({ maxLength: 20 }), (digits, msg) => {
      const ack = parseAck(Buffer.from(`E${digits} ${msg}`));
      assert.ok(!ack.ok);
      assert.ok(Number.isInteger(ack.code) && ack.code >= 0 && ack.code <= 255, `exit code ${ack.code} from "E${digits.slice(0, 30)}…"`);
    }),
    fuzzParams(1343, 500, { examples: [["99999999999999999999", "x"]] }),
  );
});

void test("an exit frame's code is always a valid exit status, whatever the guest wrote", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 30 }), fc.stringMatching(/^\d{1,30}$/), fc.double().map(String)), (text) => {
      const code = exitStatus(text);
      assert.ok(Number.isInteger(code) && code >= 0 && code <= 255, `exit code ${code} from ${JSON.stringify(text)}`);
    }),
    fuzzParams(1344, 500, { examples: [["1e20"], ["Infinity"], ["1.5"], ["256"], ["-1"], [" 7 "]] }),
  );
  assert.equal(exitStatus("7"), 7);
  assert.equal(exitStatus("0"), 0);
});
