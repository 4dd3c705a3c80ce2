// Uppercases ASCII letters of every message, in place in the input buffer, and emits it.
import { emitRaw, OK } from "../../sdk/assemblyscript/index";
export { alloc } from "../../sdk/assemblyscript/index";

export function transform(ptr: usize, len: i32): i32 {
  for (let i: usize = 0; i < <usize>len; i++) {
    const c = load<u8>(ptr + i);
    if (c >= 97 && c <= 122) store<u8>(ptr + i, c - 32);
  }
  emitRaw(ptr, len);
  return OK;
}
