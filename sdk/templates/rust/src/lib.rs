//! __NAME__: a wasm-pipes transform in Rust. It uppercases the body, puts the configured "prefix" before it, marks
//! the output with the metadata "transformed-by", and drops empty messages. See __SDK__/ABI.md.

fn transform(body: &[u8]) -> Option<Vec<u8>> {
    if body.is_empty() {
        return None; // no output: the message is dropped (and acked)
    }
    let mut out = wasm_pipes::config("prefix").unwrap_or_default().into_bytes();
    out.extend(body.iter().map(u8::to_ascii_uppercase));
    wasm_pipes::set_metadata("transformed-by", "__NAME__");
    Some(out)
}

wasm_pipes::transform!(transform);
