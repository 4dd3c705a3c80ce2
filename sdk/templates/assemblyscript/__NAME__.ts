// __NAME__: a wasm-pipes transform in AssemblyScript. It uppercases the body, puts the configured "prefix" before
// it, marks the output with the metadata "transformed-by", and drops empty messages. See __SDK__/ABI.md.
import { inputString, emitString, config, setMetadata, OK } from "__SDK__/assemblyscript/index";
export { alloc } from "__SDK__/assemblyscript/index";

export function transform(ptr: usize, len: i32): i32 {
  if (len == 0) return OK; // no output: the message is dropped (and acked)
  const prefix = config("prefix");
  setMetadata("transformed-by", "__NAME__");
  emitString((prefix == null ? "" : prefix) + inputString(ptr, len).toUpperCase());
  return OK;
}
