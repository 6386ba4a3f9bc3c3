// Everything of the image store that reads or writes tar streams, behind one
// dynamic import: `run` and the other read-only paths never load tar-stream.
export { decompressStream, detectCompression } from "../archive/compression.ts";
export { packUpperDir } from "../archive/pack.ts";
export { readImageArchive } from "./archive-read.ts";
export { writeDockerArchive, writeOciArchive } from "./archive-write.ts";
export { diffIdOf, unpackLayer } from "./layers.ts";
