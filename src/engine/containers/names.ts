// Random container names in docker's adjective_surname style.
import crypto from "node:crypto";

const LEFT = ["admiring", "agile", "bold", "brave", "busy", "calm", "clever", "eager", "ecstatic", "elegant", "focused", "gallant", "gifted", "happy", "hopeful", "jolly", "keen", "kind", "loving", "lucid", "magical", "modest", "nice", "quirky", "relaxed", "serene", "sharp", "stoic", "sweet", "tender", "trusting", "upbeat", "vibrant", "wizardly", "zealous"];
const RIGHT = ["albattani", "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "fermi", "feynman", "galileo", "gauss", "hopper", "hypatia", "kepler", "knuth", "lamarr", "lovelace", "meitner", "newton", "noether", "pasteur", "ritchie", "shannon", "thompson", "turing", "wozniak", "yalow"];

const pick = <T>(a: T[]): T => a[crypto.randomInt(a.length)]!;

export function randomName(taken: (name: string) => boolean): string {
  for (let i = 0; i < 20; i++) {
    const n = `${pick(LEFT)}_${pick(RIGHT)}`;
    if (!taken(n)) return n;
  }
  for (;;) {
    const n = `${pick(LEFT)}_${pick(RIGHT)}${crypto.randomInt(1000)}`;
    if (!taken(n)) return n;
  }
}

export const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
