//! wasm-pipes for Rust: the native ABI v1 (`sdk/ABI.md`) as safe functions, and two macros that export a plain
//! function as the module's `transform` or `filter`.
//!
//! ```ignore
//! fn shout(body: &[u8]) -> Result<Vec<u8>, String> {
//!     let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8")?;
//!     Ok(text.to_uppercase().into_bytes())
//! }
//! wasm_pipes::transform!(shout);
//! ```
//!
//! A transform returns its outputs: `Vec<u8>`, `String`, `&[u8]` or `&str` (one output), `Option<_>` (`None`
//! drops the message), `Vec<Vec<u8>>` or `Vec<String>` (N outputs), `()` (only what it passed to [`emit`]), or any
//! of these in a `Result` whose error fails the message with its text. A filter returns `bool` or
//! `Result<bool, E>`. A panic fails the message with the panic's message and location; the host then replaces the
//! instance, as after any trap.
//!
//! The crate exports `alloc` for the host. It builds with Debian's cargo and rustc, offline:
//! `cargo build --offline --release --target wasm32-unknown-unknown` (or `wasm32-wasi`, to use `println!`, the clock
//! and the environment, which holds the module's config).

use std::fmt::Display;
use std::sync::Once;

mod host {
    #[link(wasm_import_module = "wasm_pipes_v1")]
    extern "C" {
        pub fn emit(ptr: *const u8, len: i32);
        pub fn fail(ptr: *const u8, len: i32);
        pub fn meta_get(kptr: *const u8, klen: i32, out: *mut u8, cap: i32) -> i32;
        pub fn meta_set(kptr: *const u8, klen: i32, vptr: *const u8, vlen: i32);
        pub fn meta_delete(kptr: *const u8, klen: i32);
        pub fn key_get(out: *mut u8, cap: i32) -> i32;
        pub fn key_set(ptr: *const u8, len: i32);
        pub fn key_delete();
        pub fn cache_get(kptr: *const u8, klen: i32, out: *mut u8, cap: i32) -> i32;
        pub fn cache_set(kptr: *const u8, klen: i32, vptr: *const u8, vlen: i32, ttl_ms: i32) -> i32;
        pub fn cache_add(kptr: *const u8, klen: i32, vptr: *const u8, vlen: i32, ttl_ms: i32) -> i32;
        pub fn cache_delete(kptr: *const u8, klen: i32) -> i32;
        pub fn config_get(kptr: *const u8, klen: i32, out: *mut u8, cap: i32) -> i32;
        pub fn log(level: i32, ptr: *const u8, len: i32);
    }
}

/// The host's buffers: never freed (the host keeps using them), so a leaked `Vec` is a valid allocator.
#[no_mangle]
pub extern "C" fn alloc(size: i32) -> *mut u8 {
    let mut buffer: Vec<u8> = Vec::with_capacity(size.max(1) as usize);
    let ptr = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    ptr
}

fn len(bytes: &[u8]) -> i32 {
    bytes.len() as i32
}

/// Reads a value with the ABI's buffer rule: a guess first, then exactly the length the host said.
fn read(mut call: impl FnMut(*mut u8, i32) -> i32) -> Option<Vec<u8>> {
    let mut buffer: Vec<u8> = Vec::with_capacity(256);
    let mut n = call(buffer.as_mut_ptr(), buffer.capacity() as i32);
    if n < 0 {
        return None;
    }
    if n as usize > buffer.capacity() {
        buffer.reserve_exact(n as usize);
        n = call(buffer.as_mut_ptr(), buffer.capacity() as i32);
        if n < 0 {
            return None;
        }
    }
    // the host wrote n bytes (n <= capacity) at the pointer
    unsafe { buffer.set_len(n as usize) };
    Some(buffer)
}

fn text(bytes: Option<Vec<u8>>) -> Option<String> {
    bytes.map(|bytes| String::from_utf8(bytes).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
}

/// Emits one output with this body, and the metadata and key as they stand now. The host copies it at once.
pub fn emit(body: impl AsRef<[u8]>) {
    let body = body.as_ref();
    unsafe { host::emit(body.as_ptr(), len(body)) }
}

/// Records why this message fails; the macros call it for an `Err` or a panic. Return a failure after it.
pub fn fail(reason: &str) {
    unsafe { host::fail(reason.as_ptr(), len(reason.as_bytes())) }
}

/// A metadata value of the message (as changed so far by this call), or `None`.
pub fn metadata(name: &str) -> Option<String> {
    text(read(|out, cap| unsafe { host::meta_get(name.as_ptr(), len(name.as_bytes()), out, cap) }))
}

/// Sets a metadata value for the outputs emitted after this call.
pub fn set_metadata(name: &str, value: &str) {
    unsafe { host::meta_set(name.as_ptr(), len(name.as_bytes()), value.as_ptr(), len(value.as_bytes())) }
}

/// Removes a metadata value from the outputs emitted after this call.
pub fn delete_metadata(name: &str) {
    unsafe { host::meta_delete(name.as_ptr(), len(name.as_bytes())) }
}

/// The message key (partition, routing or ordering key), or `None`.
pub fn key() -> Option<String> {
    text(read(|out, cap| unsafe { host::key_get(out, cap) }))
}

/// Sets the key of the outputs emitted after this call.
pub fn set_key(key: &str) {
    unsafe { host::key_set(key.as_ptr(), len(key.as_bytes())) }
}

/// The outputs emitted after this call have no key.
pub fn delete_key() {
    unsafe { host::key_delete() }
}

/// A configuration value (the operator's `config` option, `WASM_CONFIG` in the bin), or `None`.
pub fn config(name: &str) -> Option<String> {
    text(read(|out, cap| unsafe { host::config_get(name.as_ptr(), len(name.as_bytes()), out, cap) }))
}

/// The pipeline's cache (memory, Redis or NATS KV: calls look synchronous whatever the backend).
pub mod cache {
    use super::{host, len, read};
    use std::time::Duration;

    fn ttl_ms(ttl: Option<Duration>) -> i32 {
        ttl.map_or(0, |ttl| ttl.as_millis().clamp(1, i32::MAX as u128) as i32)
    }

    /// The value stored under `key`, or `None`.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        read(|out, cap| unsafe { host::cache_get(key.as_ptr(), len(key.as_bytes()), out, cap) })
    }

    /// Stores `value` under `key` until the cache evicts it.
    pub fn set(key: &str, value: &[u8]) {
        set_with_ttl(key, value, None);
    }

    /// Stores `value` under `key`, expiring after `ttl` (`None`: no expiry).
    pub fn set_with_ttl(key: &str, value: &[u8], ttl: Option<Duration>) {
        unsafe { host::cache_set(key.as_ptr(), len(key.as_bytes()), value.as_ptr(), len(value), ttl_ms(ttl)) };
    }

    /// Stores `value` only when `key` is absent; true when it was added (the primitive for deduplication).
    pub fn add(key: &str, value: &[u8], ttl: Option<Duration>) -> bool {
        unsafe { host::cache_add(key.as_ptr(), len(key.as_bytes()), value.as_ptr(), len(value), ttl_ms(ttl)) == 1 }
    }

    /// Removes `key`.
    pub fn delete(key: &str) {
        unsafe { host::cache_delete(key.as_ptr(), len(key.as_bytes())) };
    }
}

/// Log lines of the module. Per message, log at debug or trace; info and above are limited to 10 lines a second.
pub mod log {
    use super::{host, len};

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Level {
        Trace = 0,
        Debug = 1,
        Info = 2,
        Warn = 3,
        Error = 4,
    }

    pub fn log(level: Level, text: &str) {
        unsafe { host::log(level as i32, text.as_ptr(), len(text.as_bytes())) }
    }
    pub fn trace(text: &str) {
        log(Level::Trace, text)
    }
    pub fn debug(text: &str) {
        log(Level::Debug, text)
    }
    pub fn info(text: &str) {
        log(Level::Info, text)
    }
    pub fn warn(text: &str) {
        log(Level::Warn, text)
    }
    pub fn error(text: &str) {
        log(Level::Error, text)
    }
}

/// What a transform function may return: it emits its outputs, or says why the message failed.
pub trait Outputs {
    fn emit_all(self) -> Result<(), String>;
}

impl Outputs for () {
    fn emit_all(self) -> Result<(), String> {
        Ok(())
    }
}
impl Outputs for Vec<u8> {
    fn emit_all(self) -> Result<(), String> {
        emit(&self);
        Ok(())
    }
}
impl<'a> Outputs for &'a [u8] {
    fn emit_all(self) -> Result<(), String> {
        emit(self);
        Ok(())
    }
}
impl Outputs for String {
    fn emit_all(self) -> Result<(), String> {
        emit(self.as_bytes());
        Ok(())
    }
}
impl<'a> Outputs for &'a str {
    fn emit_all(self) -> Result<(), String> {
        emit(self.as_bytes());
        Ok(())
    }
}
impl Outputs for Vec<Vec<u8>> {
    fn emit_all(self) -> Result<(), String> {
        self.iter().for_each(emit);
        Ok(())
    }
}
impl Outputs for Vec<String> {
    fn emit_all(self) -> Result<(), String> {
        self.iter().for_each(emit);
        Ok(())
    }
}
impl<T: Outputs> Outputs for Option<T> {
    fn emit_all(self) -> Result<(), String> {
        match self {
            Some(outputs) => outputs.emit_all(),
            None => Ok(()),
        }
    }
}
impl<T: Outputs, E: Display> Outputs for Result<T, E> {
    fn emit_all(self) -> Result<(), String> {
        match self {
            Ok(outputs) => outputs.emit_all(),
            Err(error) => Err(error.to_string()),
        }
    }
}

/// What a filter function may return: keep (true) or drop (false), or why the message failed.
pub trait Decision {
    fn keep(self) -> Result<bool, String>;
}
impl Decision for bool {
    fn keep(self) -> Result<bool, String> {
        Ok(self)
    }
}
impl<E: Display> Decision for Result<bool, E> {
    fn keep(self) -> Result<bool, String> {
        self.map_err(|error| error.to_string())
    }
}

/// Used by the macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    static HOOK: Once = Once::new();

    /// A panic fails the message with its text and place (the host reads it after the trap that follows).
    fn install_panic_hook() {
        HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                let message = if let Some(text) = info.payload().downcast_ref::<&str>() {
                    (*text).to_string()
                } else if let Some(text) = info.payload().downcast_ref::<String>() {
                    text.clone()
                } else {
                    "a panic".to_string()
                };
                let place = info.location().map(|at| format!(" at {}:{}:{}", at.file(), at.line(), at.column())).unwrap_or_default();
                fail(&format!("panicked{}: {}", place, message));
            }));
        });
    }

    fn input<'a>(ptr: *const u8, len: i32) -> &'a [u8] {
        if len <= 0 {
            &[]
        } else {
            // the host put the body at ptr..ptr+len for the length of this call
            unsafe { std::slice::from_raw_parts(ptr, len as usize) }
        }
    }

    pub fn transform<R: Outputs>(ptr: *const u8, len: i32, function: impl FnOnce(&[u8]) -> R) -> i32 {
        install_panic_hook();
        match function(input(ptr, len)).emit_all() {
            Ok(()) => 0,
            Err(reason) => {
                fail(&reason);
                -1
            }
        }
    }

    pub fn filter<R: Decision>(ptr: *const u8, len: i32, function: impl FnOnce(&[u8]) -> R) -> i32 {
        install_panic_hook();
        match function(input(ptr, len)).keep() {
            Ok(true) => 1,
            Ok(false) => 0,
            Err(reason) => {
                fail(&reason);
                -1
            }
        }
    }
}

/// Exports `function(body: &[u8]) -> impl Outputs` as the module's `transform`.
#[macro_export]
macro_rules! transform {
    ($function:path) => {
        // a Rust name of its own, so that the user's function may be called `transform` too
        #[export_name = "transform"]
        pub extern "C" fn __wasm_pipes_transform(ptr: *const u8, len: i32) -> i32 {
            $crate::__private::transform(ptr, len, $function)
        }
    };
}

/// Exports `function(body: &[u8]) -> bool` (or `Result<bool, E>`) as the module's `filter`.
#[macro_export]
macro_rules! filter {
    ($function:path) => {
        // a Rust name of its own, so that the user's function may be called `filter` too
        #[export_name = "filter"]
        pub extern "C" fn __wasm_pipes_filter(ptr: *const u8, len: i32) -> i32 {
            $crate::__private::filter(ptr, len, $function)
        }
    };
}
