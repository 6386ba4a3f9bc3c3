// Names of unpacked layer directories: the chain id's first hex digits keep
// overlay's lowerdir option short. Kept apart from layers.ts so that code which
// only looks layers up (every `run`) does not load the tar machinery.
import { hexOf } from "./content.ts";

const LAYER_DIR_HEX = 24;

export function layerDirName(chainId: string): string {
  return hexOf(chainId).slice(0, LAYER_DIR_HEX);
}
