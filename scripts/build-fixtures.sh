#!/usr/bin/env bash
# Builds test fixtures and examples from source; idempotent and fast once built (results are cached by source hash).
set -euo pipefail
cd "$(dirname "$0")/.."

# WebAssembly example modules: AssemblyScript (npm), C (clang lld), Rust (Debian rustc + libstd-rust-dev-wasm32), WAT.
node scripts/wasm-build.js
