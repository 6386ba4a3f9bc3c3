// pids.current and pids.max read the same on v1 and v2.
export { pidsStats } from "../v1/pids.ts";
