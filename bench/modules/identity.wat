;; The identity transform for the cost-of-size benchmark (SIZE): emits its input unchanged, so that what is measured is
;; the host's side of a call (the copy into the instance, the call, the copy out of emit), not the module's work.
(module
  (import "wasm_pipes_v1" "emit" (func $emit (param i32 i32)))
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  ;; a bump allocator: the host calls alloc for its input buffer once (and again only for a larger message)
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
    (call $emit (local.get $ptr) (local.get $len))
    (i32.const 0)))
