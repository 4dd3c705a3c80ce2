// Enriches an event with a profile from the cache: {"user":"u1",...} gets "profile": <cache value of profile:u1>
// (cached values are JSON). An unknown user passes unchanged with metadata "enriched: false".
import { inputString, emitString, emitRaw, cacheGet, setMetadata, fail, OK } from "../../sdk/assemblyscript/index";
import { stringField } from "../../sdk/assemblyscript/json";
export { alloc } from "../../sdk/assemblyscript/index";

export function transform(ptr: usize, len: i32): i32 {
  const body = inputString(ptr, len).trimEnd();
  if (!body.endsWith("}")) return fail("the body is not a JSON object");
  const user = stringField(body, "user");
  let profile: string | null = null;
  if (user != null) profile = cacheGet("profile:" + user);
  if (profile == null) {
    setMetadata("enriched", "false");
    emitRaw(ptr, len);
    return OK;
  }
  setMetadata("enriched", "true");
  const empty = body.substring(0, body.length - 1).trimEnd().endsWith("{");
  emitString(body.substring(0, body.length - 1) + (empty ? "" : ",") + "\"profile\":" + profile! + "}");
  return OK;
}
