;; __NAME__: a wasm-pipes transform in WebAssembly text. It uppercases ASCII letters in place in the host's input
;; buffer, emits it, and drops empty messages. See __SDK__/ABI.md.
(module
  (import "wasm_pipes_v1" "emit" (func $emit (param i32 i32)))
  (memory (export "memory") 1)
  ;; a bump allocator: the host calls alloc once for its input buffer, and again only for a larger message
  (global $next (mut i32) (i32.const 1024))
  (func (export "alloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $next))
    (global.set $next (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (global.get $next) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.lt_s
              (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $next) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))
              (i32.const 0))
          (then (return (i32.const 0))))))
    (local.get $ptr))
  (func (export "transform") (param $ptr i32) (param $len i32) (result i32)
    (local $i i32)
    (local $c i32)
    ;; no output: the message is dropped (and acked)
    (if (i32.eqz (local.get $len)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
          (then (i32.store8 (i32.add (local.get $ptr) (local.get $i)) (i32.sub (local.get $c) (i32.const 32)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $emit (local.get $ptr) (local.get $len))
    (i32.const 0)))
