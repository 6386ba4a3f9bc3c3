// The host's parser of guest frames (src/vm/shim/frames.ts): the guest is not
// trusted, so a frame whose header announces more than the limit is refused
// at the header, before its payload is buffered.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeFrame, FrameReader, FrameTooLarge, MAX_GUEST_FRAME } from "../../src/vm/shim/frames.ts";

void describe("guest frames", () => {
  void it("splits frames across chunk boundaries", () => {
    const r = new FrameReader();
    const bytes = Buffer.concat([encodeFrame("O", "hello"), encodeFrame("Q", "3"), encodeFrame("A")]);
    const got = [...bytes].flatMap((b) => r.push(Buffer.from([b])));
    assert.deepEqual(got.map((f) => [f.type, f.payload.toString()]), [["O", "hello"], ["Q", "3"], ["A", ""]]);
  });

  void it("takes a frame of exactly the limit", () => {
    const r = new FrameReader();
    const [f] = r.push(encodeFrame("O", Buffer.alloc(MAX_GUEST_FRAME, 1)));
    assert.equal(f?.payload.length, MAX_GUEST_FRAME);
  });

  void it("refuses a frame over the limit at its header, before buffering the payload", () => {
    const r = new FrameReader();
    const head = Buffer.from([0x4f, 0xff, 0xff, 0xff, 0xff]);
    assert.throws(() => r.push(head), FrameTooLarge);
    const r2 = new FrameReader();
    const big = Buffer.alloc(5);
    big.write("O", 0, "latin1");
    big.writeUInt32BE(MAX_GUEST_FRAME + 1, 1);
    assert.throws(() => r2.push(Buffer.concat([encodeFrame("O", "ok"), big])), /over the 1048576-byte limit/);
  });
});
