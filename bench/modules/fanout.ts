// The benchmark's many-outputs module: emits its input as many times as the config's `copies` says (default 2 000),
// for the memory bound of a 0..N transform into a slow sink (P5B).
import { config, emitRaw, OK } from "../../sdk/assemblyscript/index";
export { alloc } from "../../sdk/assemblyscript/index";

export function transform(ptr: usize, len: i32): i32 {
  const text = config("copies");
  const copies = text == null ? 2000 : I32.parseInt(text!);
  for (let i = 0; i < copies; i++) emitRaw(ptr, len);
  return OK;
}
