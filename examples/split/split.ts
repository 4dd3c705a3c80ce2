// Splits a JSON array into one message per element. Each output gets the element's "id" as its key (when it has
// one) and its position in metadata "split-index"; the input is acked once every output is. Not an array: fails.
import { inputString, emitString, setKey, deleteKey, setMetadata, fail, OK } from "../../sdk/assemblyscript/index";
import { arrayElements, stringField } from "../../sdk/assemblyscript/json";
export { alloc } from "../../sdk/assemblyscript/index";

export function transform(ptr: usize, len: i32): i32 {
  const elements = arrayElements(inputString(ptr, len));
  if (elements == null) return fail("the body is not a JSON array");
  for (let i = 0; i < elements.length; i++) {
    const element = elements[i];
    const id = stringField(element, "id");
    if (id != null) setKey(id);
    else deleteKey();
    setMetadata("split-index", i.toString());
    emitString(element);
  }
  return OK;
}
