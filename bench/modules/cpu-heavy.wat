;; A CPU-heavy transform for the benchmarks (P8, P8T): it hashes the body $rounds times over (FNV-1a mixed with a
;; multiply-xorshift, so that no compiler folds the loop away), writes the hash into the last 4 bytes of a body of
;; 8 bytes or more (so the work is observable), and emits the body. About 0.27 µs a round for a 223-byte body
;; here, with the default budget: $rounds (128) makes about 35 µs a message, in the 20-50 µs P8 asks for.
(module
  (import "wasm_pipes_v1" "emit" (func $emit (param i32 i32)))
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (global $rounds i32 (i32.const 128))
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
    (local $hash i32)
    (local $round i32)
    (local $i i32)
    (local.set $hash (i32.const 0x811c9dc5))
    (block $rounds_done
      (loop $round_loop
        (br_if $rounds_done (i32.ge_u (local.get $round) (global.get $rounds)))
        (local.set $i (i32.const 0))
        (block $bytes_done
          (loop $byte_loop
            (br_if $bytes_done (i32.ge_u (local.get $i) (local.get $len)))
            (local.set $hash
              (i32.mul
                (i32.xor (local.get $hash) (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
                (i32.const 0x01000193)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $byte_loop)))
        (local.set $hash (i32.xor (local.get $hash) (i32.shr_u (local.get $hash) (i32.const 15))))
        (local.set $hash (i32.add (local.get $hash) (local.get $round)))
        (local.set $round (i32.add (local.get $round) (i32.const 1)))
        (br $round_loop)))
    (if (i32.ge_u (local.get $len) (i32.const 8))
      (then (i32.store (i32.sub (i32.add (local.get $ptr) (local.get $len)) (i32.const 4)) (local.get $hash))))
    (call $emit (local.get $ptr) (local.get $len))
    (i32.const 0)))
