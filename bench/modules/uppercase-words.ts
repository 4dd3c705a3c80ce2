// examples/uppercase eight bytes at a time: the same output for every input (ASCII letters uppercased, every other
// byte as it was), with one 64-bit step for each eight bytes instead of a compare and branch for each byte. P1 measures
// it beside the byte loop, to tell the module's share of the gap to JavaScript (whose toUpperCase is native code) from
// the runtime's.
import { emitRaw, OK } from "../../sdk/assemblyscript/index";
export { alloc } from "../../sdk/assemblyscript/index";

const LOW_SEVEN: u64 = 0x7f7f7f7f7f7f7f7f;
const HIGH_BIT: u64 = 0x8080808080808080;
// added to each byte's low seven bits, these set its high bit when the byte is at least 'a' (0x61), or above 'z'
const FROM_A: u64 = 0x1f1f1f1f1f1f1f1f;
const PAST_Z: u64 = 0x0505050505050505;

export function transform(ptr: usize, len: i32): i32 {
  const end = ptr + <usize>len;
  let at = ptr;
  for (; at + 8 <= end; at += 8) {
    const bytes = load<u64>(at);
    const low = bytes & LOW_SEVEN;
    // the high bit of each byte that is a lowercase ASCII letter: at least 'a', not past 'z', not a byte >= 0x80
    const lower = (low + FROM_A) & ~(low + PAST_Z) & ~bytes & HIGH_BIT;
    store<u64>(at, bytes ^ (lower >> 2)); // 0x80 >> 2 is 0x20, the bit between a letter's two cases
  }
  for (; at < end; at++) {
    const c = load<u8>(at);
    if (c >= 97 && c <= 122) store<u8>(at, c - 32);
  }
  emitRaw(ptr, len);
  return OK;
}
