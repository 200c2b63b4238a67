(module
  ;; Source of pairRowsWasm.ts (npm run build:wasm writes it; test/engine/pairRowsKernel.test.ts checks it is current).
  (memory (export "memory") 1)
  ;; The hot loop of the closed-form pair loss (closedFormLoss.ts) for k = 10 classes, in WebAssembly SIMD: for every
  ;; x < y < count, products[active[x]·units + active[y]] *= Σ_c b[x·10 + c]·a[y·10 + c]. Addresses are byte offsets
  ;; into this module's memory; a and b rows are 80 bytes (10 float64), 16-byte aligned, so each row is five f64x2
  ;; loads. The ten products are summed as two lanes (even and odd classes), then the lanes.
  (func (export "pairRowsTen") (param $a i32) (param $b i32) (param $active i32) (param $count i32) (param $units i32) (param $products i32)
    (local $x i32) (local $y i32) (local $bi i32) (local $aj i32) (local $row i32) (local $p i32) (local $last i32)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128) (local $b4 v128) (local $s v128)
    (local.set $last (i32.sub (local.get $count) (i32.const 1)))
    (local.set $x (i32.const 0))
    (block $done
      (loop $outer
        (br_if $done (i32.ge_s (local.get $x) (local.get $last)))
        (local.set $bi (i32.add (local.get $b) (i32.mul (local.get $x) (i32.const 80))))
        (local.set $b0 (v128.load offset=0 (local.get $bi)))
        (local.set $b1 (v128.load offset=16 (local.get $bi)))
        (local.set $b2 (v128.load offset=32 (local.get $bi)))
        (local.set $b3 (v128.load offset=48 (local.get $bi)))
        (local.set $b4 (v128.load offset=64 (local.get $bi)))
        (local.set $row (i32.add (local.get $products)
          (i32.shl (i32.mul (i32.load (i32.add (local.get $active) (i32.shl (local.get $x) (i32.const 2)))) (local.get $units)) (i32.const 3))))
        (local.set $y (i32.add (local.get $x) (i32.const 1)))
        (local.set $aj (i32.add (local.get $a) (i32.mul (local.get $y) (i32.const 80))))
        (loop $inner
          (local.set $s
            (f64x2.add
              (f64x2.add
                (f64x2.add (f64x2.mul (local.get $b0) (v128.load offset=0 (local.get $aj))) (f64x2.mul (local.get $b1) (v128.load offset=16 (local.get $aj))))
                (f64x2.add (f64x2.mul (local.get $b2) (v128.load offset=32 (local.get $aj))) (f64x2.mul (local.get $b3) (v128.load offset=48 (local.get $aj)))))
              (f64x2.mul (local.get $b4) (v128.load offset=64 (local.get $aj)))))
          (local.set $p (i32.add (local.get $row) (i32.shl (i32.load (i32.add (local.get $active) (i32.shl (local.get $y) (i32.const 2)))) (i32.const 3))))
          (f64.store (local.get $p) (f64.mul (f64.load (local.get $p)) (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s)))))
          (local.set $y (i32.add (local.get $y) (i32.const 1)))
          (local.set $aj (i32.add (local.get $aj) (i32.const 80)))
          (br_if $inner (i32.lt_s (local.get $y) (local.get $count))))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $outer))))
  ;; Per active unit x of one sample (unit u = active[x], activation h[x]): f_c = exp(−h·columns[u·10 + c]) for the ten
  ;; classes, G = Σ_c p_c·f_c, then a[x·10 + c] = f_c / G, b[x·10 + c] = p_c·f_c / G and sums[x] = G; bounds[0] and
  ;; bounds[1] get the smallest and largest a (NaN if any is NaN). exp is fdlibm's (e_exp.c, which V8's Math.exp
  ;; ports) on two lanes: k = round(x/ln 2), r = x − k·ln 2 in two parts, its rational approximation, then 2^k as two
  ;; factors so that results below the normal range round to subnormals or 0 and above it give +Infinity, as
  ;; Math.exp does; x is first held to [−746, 710], beyond which exp is 0 or +Infinity anyway.
  (func (export "factorsTen") (param $columns i32) (param $active i32) (param $h i32) (param $p i32) (param $count i32)
    (param $a i32) (param $b i32) (param $sums i32) (param $bounds i32)
    (local $x i32) (local $v i32) (local $col i32) (local $out i32)
    (local $negh v128) (local $e v128) (local $kf v128) (local $hi v128) (local $lo v128) (local $r v128) (local $t v128)
    (local $c v128) (local $ki v128) (local $k1 v128) (local $f v128) (local $pf v128) (local $s v128) (local $inv v128)
    (local $low v128) (local $high v128) (local $nan v128) (local $g f64)
    (local.set $low (v128.const f64x2 inf inf))
    (local.set $high (v128.const f64x2 0 0))
    (local.set $x (i32.const 0))
    (block $done
      (loop $units
        (br_if $done (i32.ge_s (local.get $x) (local.get $count)))
        (local.set $col (i32.add (local.get $columns)
          (i32.mul (i32.load (i32.add (local.get $active) (i32.shl (local.get $x) (i32.const 2)))) (i32.const 80))))
        (local.set $negh (f64x2.neg (f64x2.splat (f64.load (i32.add (local.get $h) (i32.shl (local.get $x) (i32.const 3)))))))
        (local.set $out (i32.mul (local.get $x) (i32.const 80)))
        (local.set $s (v128.const f64x2 0 0))
        (local.set $v (i32.const 0))
        (loop $classes
          ;; e = exp(−h·w) for two classes
          ;; pmin/pmax (one instruction each) keep a NaN x as it is: it is the first operand.
          (local.set $e (f64x2.pmax (f64x2.pmin
            (f64x2.mul (local.get $negh) (v128.load (i32.add (local.get $col) (local.get $v))))
            (v128.const f64x2 710 710)) (v128.const f64x2 -746 -746)))
          ;; k = round(x/ln 2): adding 1.5·2^52 rounds to an integer (to nearest, ties to even) held in the low bits
          (local.set $kf (f64x2.add (f64x2.mul (local.get $e) (v128.const f64x2 1.44269504088896338700e+00 1.44269504088896338700e+00))
            (v128.const f64x2 0x1.8p52 0x1.8p52)))
          (local.set $ki (i64x2.sub (local.get $kf) (v128.const i64x2 0x4338000000000000 0x4338000000000000)))
          (local.set $kf (f64x2.sub (local.get $kf) (v128.const f64x2 0x1.8p52 0x1.8p52)))
          (local.set $hi (f64x2.sub (local.get $e) (f64x2.mul (local.get $kf) (v128.const f64x2 6.93147180369123816490e-01 6.93147180369123816490e-01))))
          (local.set $lo (f64x2.mul (local.get $kf) (v128.const f64x2 1.90821492927058770002e-10 1.90821492927058770002e-10)))
          (local.set $r (f64x2.sub (local.get $hi) (local.get $lo)))
          (local.set $t (f64x2.mul (local.get $r) (local.get $r)))
          (local.set $c (f64x2.sub (local.get $r) (f64x2.mul (local.get $t)
            (f64x2.add (v128.const f64x2 1.66666666666666019037e-01 1.66666666666666019037e-01) (f64x2.mul (local.get $t)
            (f64x2.add (v128.const f64x2 -2.77777777770155933842e-03 -2.77777777770155933842e-03) (f64x2.mul (local.get $t)
            (f64x2.add (v128.const f64x2 6.61375632143793436117e-05 6.61375632143793436117e-05) (f64x2.mul (local.get $t)
            (f64x2.add (v128.const f64x2 -1.65339022054652515390e-06 -1.65339022054652515390e-06) (f64x2.mul (local.get $t)
              (v128.const f64x2 4.13813679705723846039e-08 4.13813679705723846039e-08))))))))))))
          ;; y = 1 − ((lo − r·c/(2 − c)) − hi)
          (local.set $f (f64x2.sub (v128.const f64x2 1 1) (f64x2.sub
            (f64x2.sub (local.get $lo) (f64x2.div (f64x2.mul (local.get $r) (local.get $c)) (f64x2.sub (v128.const f64x2 2 2) (local.get $c))))
            (local.get $hi))))
          ;; × 2^k as 2^k1 · 2^(k − k1), k1 = k >> 1: both factors normal for k in [−1077, 1025]
          (local.set $k1 (i64x2.shr_s (local.get $ki) (i32.const 1)))
          (local.set $f (f64x2.mul (f64x2.mul (local.get $f)
            (i64x2.shl (i64x2.add (local.get $k1) (v128.const i64x2 1023 1023)) (i32.const 52)))
            (i64x2.shl (i64x2.add (i64x2.sub (local.get $ki) (local.get $k1)) (v128.const i64x2 1023 1023)) (i32.const 52))))
          (v128.store (i32.add (local.get $a) (i32.add (local.get $out) (local.get $v))) (local.get $f))
          (local.set $pf (f64x2.mul (v128.load (i32.add (local.get $p) (local.get $v))) (local.get $f)))
          (v128.store (i32.add (local.get $b) (i32.add (local.get $out) (local.get $v))) (local.get $pf))
          (local.set $s (f64x2.add (local.get $s) (local.get $pf)))
          (local.set $v (i32.add (local.get $v) (i32.const 16)))
          (br_if $classes (i32.lt_u (local.get $v) (i32.const 80))))
        (local.set $g (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s))))
        (f64.store (i32.add (local.get $sums) (i32.shl (local.get $x) (i32.const 3))) (local.get $g))
        (local.set $inv (f64x2.splat (f64.div (f64.const 1) (local.get $g))))
        (local.set $v (i32.const 0))
        (loop $scale
          (local.set $f (f64x2.mul (v128.load (i32.add (local.get $a) (i32.add (local.get $out) (local.get $v)))) (local.get $inv)))
          (v128.store (i32.add (local.get $a) (i32.add (local.get $out) (local.get $v))) (local.get $f))
          (local.set $low (f64x2.pmin (local.get $low) (local.get $f)))
          (local.set $high (f64x2.pmax (local.get $high) (local.get $f)))
          (local.set $nan (v128.or (local.get $nan) (f64x2.ne (local.get $f) (local.get $f))))
          (v128.store (i32.add (local.get $b) (i32.add (local.get $out) (local.get $v)))
            (f64x2.mul (v128.load (i32.add (local.get $b) (i32.add (local.get $out) (local.get $v)))) (local.get $inv)))
          (local.set $v (i32.add (local.get $v) (i32.const 16)))
          (br_if $scale (i32.lt_u (local.get $v) (i32.const 80))))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $units)))
    (f64.store (local.get $bounds) (f64.min (f64x2.extract_lane 0 (local.get $low)) (f64x2.extract_lane 1 (local.get $low))))
    (f64.store offset=8 (local.get $bounds) (f64.max (f64x2.extract_lane 0 (local.get $high)) (f64x2.extract_lane 1 (local.get $high))))
    ;; pmin/pmax skip NaN: a NaN factor makes both bounds NaN
    (if (v128.any_true (local.get $nan))
      (then
        (f64.store (local.get $bounds) (f64.const nan))
        (f64.store offset=8 (local.get $bounds) (f64.const nan))))))
