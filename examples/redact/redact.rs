//! Redacts a JSON field: every value of the field named by config "field" (default "password"), at any depth, is
//! replaced by "***". A no_std Rust module for the native ABI v1 (sdk/ABI.md), built with Debian's rustc:
//!   /usr/bin/rustc --target wasm32-unknown-unknown --crate-type cdylib -C opt-level=3 -C panic=abort \
//!     -C strip=debuginfo -o redact.wasm redact.rs
#![no_std]

use core::arch::wasm32;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    wasm32::unreachable()
}

#[link(wasm_import_module = "wasm_pipes_v1")]
extern "C" {
    fn emit(ptr: *const u8, len: i32);
    fn fail(ptr: *const u8, len: i32);
    fn config_get(kptr: *const u8, klen: i32, out: *mut u8, cap: i32) -> i32;
}

/// New pages at the end of memory: the host calls alloc rarely (its input buffer), so nothing is ever freed.
fn grow(size: usize) -> *mut u8 {
    let pages = (size + 65535) / 65536;
    let old = wasm32::memory_grow(0, pages);
    if old == usize::MAX {
        return core::ptr::null_mut();
    }
    (old * 65536) as *mut u8
}

#[no_mangle]
pub extern "C" fn alloc(size: i32) -> *mut u8 {
    grow(size as usize)
}

static mut FIELD: [u8; 64] = [0; 64];
static mut FIELD_LEN: i32 = -1;
static mut OUT: *mut u8 = core::ptr::null_mut();
static mut OUT_CAP: usize = 0;

fn field() -> &'static [u8] {
    unsafe {
        if FIELD_LEN < 0 {
            let n = config_get(b"field".as_ptr(), 5, FIELD.as_mut_ptr(), 64);
            if n <= 0 || n > 64 {
                FIELD[..8].copy_from_slice(b"password");
                FIELD_LEN = 8;
            } else {
                FIELD_LEN = n;
            }
        }
        &FIELD[..FIELD_LEN as usize]
    }
}

fn failed(reason: &[u8]) -> i32 {
    unsafe { fail(reason.as_ptr(), reason.len() as i32) };
    -1
}

fn skip_space(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Just past the string whose opening quote is at `i`.
fn string_end(s: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Just past the JSON value that starts at `i`.
fn value_end(s: &[u8], i: usize) -> Option<usize> {
    let i = skip_space(s, i);
    if i >= s.len() {
        return None;
    }
    match s[i] {
        b'"' => string_end(s, i),
        b'{' | b'[' => {
            let mut depth = 0;
            let mut j = i;
            while j < s.len() {
                match s[j] {
                    b'"' => {
                        j = string_end(s, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < s.len() && !matches!(s[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            Some(j)
        }
    }
}

#[no_mangle]
pub extern "C" fn transform(ptr: *const u8, len: i32) -> i32 {
    let input = unsafe { core::slice::from_raw_parts(ptr, len as usize) };
    let name = field();
    // each redaction adds at most 4 bytes to at least 5: twice the input always fits
    let need = input.len() * 2 + 64;
    let out = unsafe {
        if OUT_CAP < need {
            OUT = grow(need);
            if OUT.is_null() {
                return failed(b"out of memory");
            }
            OUT_CAP = need;
        }
        core::slice::from_raw_parts_mut(OUT, OUT_CAP)
    };
    let mut o = 0;
    let mut i = 0;
    while i < input.len() {
        if input[i] != b'"' {
            out[o] = input[i];
            o += 1;
            i += 1;
            continue;
        }
        let end = match string_end(input, i) {
            Some(end) => end,
            None => return failed(b"unterminated string in the JSON body"),
        };
        out[o..o + (end - i)].copy_from_slice(&input[i..end]);
        o += end - i;
        let key = &input[i + 1..end - 1];
        i = end;
        let colon = skip_space(input, i);
        if key == name && colon < input.len() && input[colon] == b':' {
            out[o..o + (colon + 1 - i)].copy_from_slice(&input[i..colon + 1]);
            o += colon + 1 - i;
            let value_start = skip_space(input, colon + 1);
            let value_stop = match value_end(input, value_start) {
                Some(stop) => stop,
                None => return failed(b"malformed JSON value"),
            };
            out[o..o + 5].copy_from_slice(b"\"***\"");
            o += 5;
            i = value_stop;
        }
    }
    unsafe { emit(out.as_ptr(), o as i32) };
    0
}
