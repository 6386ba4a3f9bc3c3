// capsa's own version and the Docker Engine API version it speaks: part of the
// contract, and constants of their own so a front end can print them without loading the engine.
export const VERSION = "0.1.0";
export const API_VERSION = "1.43";
