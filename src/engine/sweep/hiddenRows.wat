(module
  ;; Source of hiddenRowsWasm.ts (npm run build:wasm writes it; test/engine/hiddenLoss.test.ts checks it is current).
  ;; The loss of zero ablations at a site one hidden ReLU layer before the output layer, for k = 10 classes, sample by
  ;; sample (hiddenLoss.ts states the arithmetic). Addresses are byte offsets into this module's memory, every array
  ;; 16-byte aligned; `width` is the hidden layer's width rounded up to even (its padding: p = 0, weights 0); rows of
  ;; ten classes are 80 bytes, five f64x2.
  (import "js" "log" (func $log (param f64) (result f64)))
  (memory (export "memory") 1)

  ;; exp on two float64 lanes: fdlibm's (e_exp.c, which V8's Math.exp ports; the same code as pairRows.wat's
  ;; factorsTen): k = round(x/ln 2), r = x − k·ln 2 in two parts, its rational approximation, then 2^k as two factors
  ;; so that results below the normal range round to subnormals or 0 and above it give +Infinity; x is first held to
  ;; [−746, 710], beyond which exp is 0 or +Infinity anyway; a NaN stays NaN.
  (func $exp (param $x v128) (result v128)
    (local $e v128) (local $kf v128) (local $ki v128) (local $hi v128) (local $lo v128) (local $r v128) (local $t v128)
    (local $c v128) (local $k1 v128) (local $f v128)
    (local.set $e (f64x2.pmax (f64x2.pmin (local.get $x) (v128.const f64x2 710 710)) (v128.const f64x2 -746 -746)))
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
    (local.set $f (f64x2.sub (v128.const f64x2 1 1) (f64x2.sub
      (f64x2.sub (local.get $lo) (f64x2.div (f64x2.mul (local.get $r) (local.get $c)) (f64x2.sub (v128.const f64x2 2 2) (local.get $c))))
      (local.get $hi))))
    (local.set $k1 (i64x2.shr_s (local.get $ki) (i32.const 1)))
    (f64x2.mul (f64x2.mul (local.get $f)
      (i64x2.shl (i64x2.add (local.get $k1) (v128.const i64x2 1023 1023)) (i32.const 52)))
      (i64x2.shl (i64x2.add (i64x2.sub (local.get $ki) (local.get $k1)) (v128.const i64x2 1023 1023)) (i32.const 52))))

  ;; The prediction of new logits z' (ten classes, five f64x2): its top class c (the lowest of equal tops) where c is
  ;; clear, every other class d having z'_c − z'_d > κ·(|z'_c| + |z'_d| + 1); −1 where it is not (NaN never is).
  (func $decide (param $z0 v128) (param $z1 v128) (param $z2 v128) (param $z3 v128) (param $z4 v128) (param $kappa f64) (result i32)
    (local $zt f64) (local $ztv v128) (local $k1 v128) (local $kv v128) (local $best i32) (local $bits i32)
    (local.set $ztv (f64x2.max (f64x2.max (f64x2.max (local.get $z0) (local.get $z1)) (f64x2.max (local.get $z2) (local.get $z3))) (local.get $z4)))
    (local.set $zt (f64.max (f64x2.extract_lane 0 (local.get $ztv)) (f64x2.extract_lane 1 (local.get $ztv))))
    (local.set $ztv (f64x2.splat (local.get $zt)))
    (local.set $best (i32.ctz (i32.or (i32.or (i32.or (i32.or
      (i64x2.bitmask (f64x2.eq (local.get $z0) (local.get $ztv)))
      (i32.shl (i64x2.bitmask (f64x2.eq (local.get $z1) (local.get $ztv))) (i32.const 2)))
      (i32.shl (i64x2.bitmask (f64x2.eq (local.get $z2) (local.get $ztv))) (i32.const 4)))
      (i32.shl (i64x2.bitmask (f64x2.eq (local.get $z3) (local.get $ztv))) (i32.const 6)))
      (i32.shl (i64x2.bitmask (f64x2.eq (local.get $z4) (local.get $ztv))) (i32.const 8)))))
    (local.set $k1 (f64x2.splat (f64.mul (local.get $kappa) (f64.add (f64.abs (local.get $zt)) (f64.const 1)))))
    (local.set $kv (f64x2.splat (local.get $kappa)))
    (local.set $bits (i32.popcnt (i32.or (i32.or (i32.or (i32.or
      (i64x2.bitmask (f64x2.gt (f64x2.sub (local.get $ztv) (local.get $z0)) (f64x2.add (local.get $k1) (f64x2.mul (local.get $kv) (f64x2.abs (local.get $z0))))))
      (i32.shl (i64x2.bitmask (f64x2.gt (f64x2.sub (local.get $ztv) (local.get $z1)) (f64x2.add (local.get $k1) (f64x2.mul (local.get $kv) (f64x2.abs (local.get $z1)))))) (i32.const 2)))
      (i32.shl (i64x2.bitmask (f64x2.gt (f64x2.sub (local.get $ztv) (local.get $z2)) (f64x2.add (local.get $k1) (f64x2.mul (local.get $kv) (f64x2.abs (local.get $z2)))))) (i32.const 4)))
      (i32.shl (i64x2.bitmask (f64x2.gt (f64x2.sub (local.get $ztv) (local.get $z3)) (f64x2.add (local.get $k1) (f64x2.mul (local.get $kv) (f64x2.abs (local.get $z3)))))) (i32.const 6)))
      (i32.shl (i64x2.bitmask (f64x2.gt (f64x2.sub (local.get $ztv) (local.get $z4)) (f64x2.add (local.get $k1) (f64x2.mul (local.get $kv) (f64x2.abs (local.get $z4)))))) (i32.const 8)))))
    ;; clear: nine classes below the top by the margin (the top itself is 0 below)
    (local.set $best (select (local.get $best) (i32.const -1) (i32.eq (local.get $bits) (i32.const 9))))
    (local.get $best))

  ;; Per active unit x of one sample (site unit u = active[x], activation h[x]), with the hidden layer's intact
  ;; pre-activations p [width] and softmax pi [10]:
  ;;   v[x·width + m] = h·columns[u·width + m] (the unit's contribution to hidden unit m, columns = W_nextᵀ);
  ;;   lin = Σ over active m (p_m > 0) of v_m·rows[m] (rows = W_outᵀ, 80 bytes per m): the logit change if no hidden
  ;;   unit changed sign; candidates[x·width ..] the m where half the contribution could flip the sign (p_m > 0 and
  ;;   2·v_m ≥ p_m, or p_m ≤ 0 and 2·v_m < p_m; a pair flips only these), counts[x] their number;
  ;;   d = lin corrected for the m the unit alone flips (t = p_m − v_m: +t·rows[m] where p_m > 0 ≥ t, −t·rows[m]
  ;;   where t > 0 ≥ p_m), the exact drop of every logit when u alone is zeroed;
  ;;   b[x] = exp(−lin), a[x] = pi·b[x], sums[x] = Σ pi·exp(−d) (the single's loss change is log sums[x] + d[label]),
  ;;   dLabel[x] = d[label], linLabel[x] = lin[label], lin[x] = lin (for pairsTen's decisions).
  ;; With top ≥ 0 (the sample's intact prediction) the single's new logits z − d are decided ($decide): where not
  ;; clearly top, x goes into upick and its clear class (or −1) into uclasses. Returns how many were picked.
  (func (export "unitsTen") (param $count i32) (param $width i32) (param $label i32)
    (param $columns i32) (param $rows i32) (param $p i32) (param $pi i32) (param $active i32) (param $h i32)
    (param $v i32) (param $candidates i32) (param $counts i32) (param $a i32) (param $b i32) (param $sums i32)
    (param $dLabel i32) (param $linLabel i32) (param $scratch i32) (param $vt i32) (param $cmask i32) (param $stride i32)
    (param $lin i32) (param $z i32) (param $top i32) (param $kappa f64) (param $upick i32) (param $uclasses i32) (result i32)
    (local $picked i32) (local $best i32)
    (local $cell i32) (local $candidate i32) (local $x i32) (local $m i32) (local $q i32) (local $n i32) (local $vrow i32) (local $wrow i32) (local $crow i32)
    (local $w i32) (local $out i32) (local $pm f64) (local $vm f64) (local $t f64) (local $hx v128) (local $s v128)
    (local $l0 v128) (local $l1 v128) (local $l2 v128) (local $l3 v128) (local $l4 v128)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128) (local $d4 v128) (local $f v128)
    (local.set $x (i32.const 0))
    (block $done
      (loop $units
        (br_if $done (i32.ge_s (local.get $x) (local.get $count)))
        (local.set $hx (f64x2.splat (f64.load (i32.add (local.get $h) (i32.shl (local.get $x) (i32.const 3))))))
        (local.set $vrow (i32.add (local.get $v) (i32.shl (i32.mul (local.get $x) (local.get $width)) (i32.const 3))))
        (local.set $wrow (i32.add (local.get $columns)
          (i32.shl (i32.mul (i32.load (i32.add (local.get $active) (i32.shl (local.get $x) (i32.const 2)))) (local.get $width)) (i32.const 3))))
        (local.set $crow (i32.add (local.get $candidates) (i32.shl (i32.mul (local.get $x) (local.get $width)) (i32.const 2))))
        ;; v = h·column, two at a time
        (local.set $m (i32.const 0))
        (loop $scale
          (v128.store (i32.add (local.get $vrow) (i32.shl (local.get $m) (i32.const 3)))
            (f64x2.mul (local.get $hx) (v128.load (i32.add (local.get $wrow) (i32.shl (local.get $m) (i32.const 3))))))
          (local.set $m (i32.add (local.get $m) (i32.const 2)))
          (br_if $scale (i32.lt_s (local.get $m) (local.get $width))))
        ;; lin and the candidates
        (local.set $l0 (v128.const f64x2 0 0))
        (local.set $l1 (v128.const f64x2 0 0))
        (local.set $l2 (v128.const f64x2 0 0))
        (local.set $l3 (v128.const f64x2 0 0))
        (local.set $l4 (v128.const f64x2 0 0))
        (local.set $n (i32.const 0))
        (local.set $m (i32.const 0))
        (loop $hidden
          (local.set $pm (f64.load (i32.add (local.get $p) (i32.shl (local.get $m) (i32.const 3)))))
          (local.set $vm (f64.load (i32.add (local.get $vrow) (i32.shl (local.get $m) (i32.const 3)))))
          ;; whether m is a candidate (p_m > 0 and 2·v_m ≥ p_m, or p_m ≤ 0 and 2·v_m < p_m): listed, and with v in the
          ;; hidden-unit-major copies pairsTen scans
          (local.set $candidate (select (f64.ge (f64.add (local.get $vm) (local.get $vm)) (local.get $pm)) (f64.lt (f64.add (local.get $vm) (local.get $vm)) (local.get $pm))
            (f64.gt (local.get $pm) (f64.const 0))))
          (local.set $cell (i32.shl (i32.add (i32.mul (local.get $m) (local.get $stride)) (local.get $x)) (i32.const 3)))
          (f64.store (i32.add (local.get $vt) (local.get $cell)) (local.get $vm))
          (i64.store (i32.add (local.get $cmask) (local.get $cell)) (i64.extend_i32_s (i32.sub (i32.const 0) (local.get $candidate))))
          ;; written always, counted where listed
          (i32.store (i32.add (local.get $crow) (i32.shl (local.get $n) (i32.const 2))) (local.get $m))
          (local.set $n (i32.add (local.get $n) (local.get $candidate)))
          (if (f64.gt (local.get $pm) (f64.const 0))
            (then
              (local.set $w (i32.add (local.get $rows) (i32.mul (local.get $m) (i32.const 80))))
              (local.set $f (f64x2.splat (local.get $vm)))
              (local.set $l0 (f64x2.add (local.get $l0) (f64x2.mul (local.get $f) (v128.load offset=0 (local.get $w)))))
              (local.set $l1 (f64x2.add (local.get $l1) (f64x2.mul (local.get $f) (v128.load offset=16 (local.get $w)))))
              (local.set $l2 (f64x2.add (local.get $l2) (f64x2.mul (local.get $f) (v128.load offset=32 (local.get $w)))))
              (local.set $l3 (f64x2.add (local.get $l3) (f64x2.mul (local.get $f) (v128.load offset=48 (local.get $w)))))
              (local.set $l4 (f64x2.add (local.get $l4) (f64x2.mul (local.get $f) (v128.load offset=64 (local.get $w)))))))
          (local.set $m (i32.add (local.get $m) (i32.const 1)))
          (br_if $hidden (i32.lt_s (local.get $m) (local.get $width))))
        (i32.store (i32.add (local.get $counts) (i32.shl (local.get $x) (i32.const 2))) (local.get $n))
        ;; d: lin corrected for the signs the unit alone flips
        (local.set $d0 (local.get $l0))
        (local.set $d1 (local.get $l1))
        (local.set $d2 (local.get $l2))
        (local.set $d3 (local.get $l3))
        (local.set $d4 (local.get $l4))
        (local.set $q (i32.const 0))
        (block $flipped
          (loop $flips
            (br_if $flipped (i32.ge_s (local.get $q) (local.get $n)))
            (local.set $m (i32.load (i32.add (local.get $crow) (i32.shl (local.get $q) (i32.const 2)))))
            (local.set $pm (f64.load (i32.add (local.get $p) (i32.shl (local.get $m) (i32.const 3)))))
            (local.set $t (f64.sub (local.get $pm) (f64.load (i32.add (local.get $vrow) (i32.shl (local.get $m) (i32.const 3))))))
            (if (if (result i32) (f64.gt (local.get $pm) (f64.const 0)) (then (f64.le (local.get $t) (f64.const 0))) (else (f64.gt (local.get $t) (f64.const 0))))
              (then
                (local.set $w (i32.add (local.get $rows) (i32.mul (local.get $m) (i32.const 80))))
                (local.set $f (f64x2.splat (select (local.get $t) (f64.neg (local.get $t)) (f64.gt (local.get $pm) (f64.const 0)))))
                (local.set $d0 (f64x2.add (local.get $d0) (f64x2.mul (local.get $f) (v128.load offset=0 (local.get $w)))))
                (local.set $d1 (f64x2.add (local.get $d1) (f64x2.mul (local.get $f) (v128.load offset=16 (local.get $w)))))
                (local.set $d2 (f64x2.add (local.get $d2) (f64x2.mul (local.get $f) (v128.load offset=32 (local.get $w)))))
                (local.set $d3 (f64x2.add (local.get $d3) (f64x2.mul (local.get $f) (v128.load offset=48 (local.get $w)))))
                (local.set $d4 (f64x2.add (local.get $d4) (f64x2.mul (local.get $f) (v128.load offset=64 (local.get $w)))))))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $flips)))
        ;; where decisions are asked for (top ≥ 0, the intact prediction): the single's new logits z − d; a row not
        ;; clearly top is picked (x into upick, its clear class or −1 into uclasses)
        (if (i32.ge_s (local.get $top) (i32.const 0))
          (then
            (local.set $best (call $decide
              (f64x2.sub (v128.load offset=0 (local.get $z)) (local.get $d0)) (f64x2.sub (v128.load offset=16 (local.get $z)) (local.get $d1))
              (f64x2.sub (v128.load offset=32 (local.get $z)) (local.get $d2)) (f64x2.sub (v128.load offset=48 (local.get $z)) (local.get $d3))
              (f64x2.sub (v128.load offset=64 (local.get $z)) (local.get $d4)) (local.get $kappa)))
            (i32.store (i32.add (local.get $upick) (i32.shl (local.get $picked) (i32.const 2))) (local.get $x))
            (i32.store (i32.add (local.get $uclasses) (i32.shl (local.get $picked) (i32.const 2))) (local.get $best))
            (local.set $picked (i32.add (local.get $picked) (i32.ne (local.get $best) (local.get $top))))))
        ;; b = exp(−lin), a = pi·b; sums = Σ pi·exp(−d); lin itself (pairsTen's decisions)
        (local.set $out (i32.mul (local.get $x) (i32.const 80)))
        (v128.store offset=0 (i32.add (local.get $lin) (local.get $out)) (local.get $l0))
        (v128.store offset=16 (i32.add (local.get $lin) (local.get $out)) (local.get $l1))
        (v128.store offset=32 (i32.add (local.get $lin) (local.get $out)) (local.get $l2))
        (v128.store offset=48 (i32.add (local.get $lin) (local.get $out)) (local.get $l3))
        (v128.store offset=64 (i32.add (local.get $lin) (local.get $out)) (local.get $l4))
        (local.set $f (call $exp (f64x2.neg (local.get $l0))))
        (v128.store offset=0 (i32.add (local.get $b) (local.get $out)) (local.get $f))
        (v128.store offset=0 (i32.add (local.get $a) (local.get $out)) (f64x2.mul (local.get $f) (v128.load offset=0 (local.get $pi))))
        (local.set $f (call $exp (f64x2.neg (local.get $l1))))
        (v128.store offset=16 (i32.add (local.get $b) (local.get $out)) (local.get $f))
        (v128.store offset=16 (i32.add (local.get $a) (local.get $out)) (f64x2.mul (local.get $f) (v128.load offset=16 (local.get $pi))))
        (local.set $f (call $exp (f64x2.neg (local.get $l2))))
        (v128.store offset=32 (i32.add (local.get $b) (local.get $out)) (local.get $f))
        (v128.store offset=32 (i32.add (local.get $a) (local.get $out)) (f64x2.mul (local.get $f) (v128.load offset=32 (local.get $pi))))
        (local.set $f (call $exp (f64x2.neg (local.get $l3))))
        (v128.store offset=48 (i32.add (local.get $b) (local.get $out)) (local.get $f))
        (v128.store offset=48 (i32.add (local.get $a) (local.get $out)) (f64x2.mul (local.get $f) (v128.load offset=48 (local.get $pi))))
        (local.set $f (call $exp (f64x2.neg (local.get $l4))))
        (v128.store offset=64 (i32.add (local.get $b) (local.get $out)) (local.get $f))
        (v128.store offset=64 (i32.add (local.get $a) (local.get $out)) (f64x2.mul (local.get $f) (v128.load offset=64 (local.get $pi))))
        (local.set $s (f64x2.add
          (f64x2.add
            (f64x2.add (f64x2.mul (v128.load offset=0 (local.get $pi)) (call $exp (f64x2.neg (local.get $d0))))
              (f64x2.mul (v128.load offset=16 (local.get $pi)) (call $exp (f64x2.neg (local.get $d1)))))
            (f64x2.add (f64x2.mul (v128.load offset=32 (local.get $pi)) (call $exp (f64x2.neg (local.get $d2))))
              (f64x2.mul (v128.load offset=48 (local.get $pi)) (call $exp (f64x2.neg (local.get $d3))))))
          (f64x2.mul (v128.load offset=64 (local.get $pi)) (call $exp (f64x2.neg (local.get $d4))))))
        (f64.store (i32.add (local.get $sums) (i32.shl (local.get $x) (i32.const 3)))
          (f64.add (f64x2.extract_lane 0 (local.get $s)) (f64x2.extract_lane 1 (local.get $s))))
        ;; the label's entries of d and lin, through scratch (a lane cannot be picked by a variable)
        (v128.store offset=0 (local.get $scratch) (local.get $d0))
        (v128.store offset=16 (local.get $scratch) (local.get $d1))
        (v128.store offset=32 (local.get $scratch) (local.get $d2))
        (v128.store offset=48 (local.get $scratch) (local.get $d3))
        (v128.store offset=64 (local.get $scratch) (local.get $d4))
        (f64.store (i32.add (local.get $dLabel) (i32.shl (local.get $x) (i32.const 3)))
          (f64.load (i32.add (local.get $scratch) (i32.shl (local.get $label) (i32.const 3)))))
        (v128.store offset=0 (local.get $scratch) (local.get $l0))
        (v128.store offset=16 (local.get $scratch) (local.get $l1))
        (v128.store offset=32 (local.get $scratch) (local.get $l2))
        (v128.store offset=48 (local.get $scratch) (local.get $l3))
        (v128.store offset=64 (local.get $scratch) (local.get $l4))
        (f64.store (i32.add (local.get $linLabel) (i32.shl (local.get $x) (i32.const 3)))
          (f64.load (i32.add (local.get $scratch) (i32.shl (local.get $label) (i32.const 3)))))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $units)))
    (local.get $picked))

  ;; Every pair x < y of the sample's active units (after unitsTen): the pair's drop d = lin_x + lin_y + e, e the
  ;; correction of every hidden unit m the pair flips (t = p_m − v_x,m − v_y,m: +t·rows[m] where p_m > 0 ≥ t,
  ;; −t·rows[m] where t > 0 ≥ p_m); S = Σ a_x·b_y·exp(−e) and q = S / (sums[x]·sums[y]), so that the pair's loss
  ;; change less its singles' is log q + e[label] + linLabel[x] + linLabel[y] − dLabel[x] − dLabel[y].
  ;; products[i·units + j] (i = active[x] < j = active[y]) is multiplied by q, folded into logs[i·units + j] by the
  ;; imported log when it leaves [1e-100, 1e100]; logs gets the other terms. With top ≥ 0 (the intact prediction),
  ;; each row's new logits z − lin_x − lin_y − e are decided ($decide): a row not clearly top is picked (its cell
  ;; active[x]·units + active[y] into pick, its clear class or −1 into classes); returns how many were picked.
  ;;
  ;; Three passes, without branches on the data in their inner loops:
  ;; 1. The flips, unit by unit: for each candidate m of unit x, every partner y at once, two per instruction, from
  ;;    the hidden-unit-major copies vt (v_y,m) and cmask (m among y's candidates). A pair flips m only if m is a
  ;;    candidate of x or y; x takes it where m is not y's candidate or x < y, so each (pair, m) is taken once. The
  ;;    partners that flip m are listed (`list`, [count] i32), then each adds its correction to the pair row's e in
  ;;    `acc` ([rows, 10] f64, zero on entry and left zero) and sets its `flags` entry ([rows] i32, zero on entry and
  ;;    left zero). Pair rows are numbered x < y in order:
  ;;    row(x, y) = starts[x] + y (`starts` [count] i32).
  ;; 2. exp(−e) of every flagged row into `ex` ([rows, 10] f64; 1 where nothing flipped).
  ;; 3. The rows: S, q and the cells.
  (func (export "pairsTen") (param $count i32) (param $width i32) (param $label i32) (param $units i32)
    (param $rows i32) (param $p i32) (param $active i32) (param $v i32) (param $candidates i32) (param $counts i32)
    (param $a i32) (param $b i32) (param $sums i32) (param $dLabel i32) (param $linLabel i32)
    (param $products i32) (param $logs i32) (param $vt i32) (param $cmask i32) (param $stride i32)
    (param $acc i32) (param $ex i32) (param $list i32) (param $starts i32) (param $flags i32)
    (param $lin i32) (param $z i32) (param $top i32) (param $kappa f64) (param $pick i32) (param $classes i32) (result i32)
    (local $picked i32) (local $best i32) (local $ly i32)
    (local $zx0 v128) (local $zx1 v128) (local $zx2 v128) (local $zx3 v128) (local $zx4 v128)
    (local $z0 v128) (local $z1 v128) (local $z2 v128) (local $z3 v128) (local $z4 v128)
    (local $x i32) (local $y i32) (local $q i32) (local $nx i32) (local $m i32) (local $w i32) (local $row i32)
    (local $vx i32) (local $cx i32) (local $vtRow i32) (local $cmRow i32) (local $bits i32) (local $i i32) (local $j i32)
    (local $ax i32) (local $by i32) (local $at i32) (local $other i32) (local $cell i32) (local $n i32) (local $end i32)
    (local $pm f64) (local $theta f64) (local $sign f64) (local $s f64) (local $product f64) (local $extra f64)
    (local $sx f64) (local $linx f64) (local $dx f64)
    (local $thetaV v128) (local $neg v128) (local $xv v128) (local $yv v128) (local $f v128) (local $sum v128)
    ;; starts[x] = x·count − x(x+1)/2 − x − 1
    (local.set $x (i32.const 0))
    (loop $start
      (i32.store (i32.add (local.get $starts) (i32.shl (local.get $x) (i32.const 2)))
        (i32.sub (i32.sub (i32.mul (local.get $x) (local.get $count))
          (i32.shr_u (i32.mul (local.get $x) (i32.add (local.get $x) (i32.const 1))) (i32.const 1)))
          (i32.add (local.get $x) (i32.const 1))))
      (local.set $x (i32.add (local.get $x) (i32.const 1)))
      (br_if $start (i32.lt_s (local.get $x) (local.get $count))))
    ;; 1. the flips
    (local.set $x (i32.const 0))
    (block $ownersDone
      (loop $owners
        (br_if $ownersDone (i32.ge_s (local.get $x) (local.get $count)))
        (local.set $vx (i32.add (local.get $v) (i32.shl (i32.mul (local.get $x) (local.get $width)) (i32.const 3))))
        (local.set $cx (i32.add (local.get $candidates) (i32.shl (i32.mul (local.get $x) (local.get $width)) (i32.const 2))))
        (local.set $nx (i32.load (i32.add (local.get $counts) (i32.shl (local.get $x) (i32.const 2)))))
        (local.set $xv (i64x2.splat (i64.extend_i32_s (local.get $x))))
        (local.set $q (i32.const 0))
        (block $candidatesDone
          (loop $candidate
            (br_if $candidatesDone (i32.ge_s (local.get $q) (local.get $nx)))
            (local.set $m (i32.load (i32.add (local.get $cx) (i32.shl (local.get $q) (i32.const 2)))))
            (local.set $pm (f64.load (i32.add (local.get $p) (i32.shl (local.get $m) (i32.const 3)))))
            (local.set $theta (f64.sub (local.get $pm) (f64.load (i32.add (local.get $vx) (i32.shl (local.get $m) (i32.const 3))))))
            (local.set $thetaV (f64x2.splat (local.get $theta)))
            ;; p_m > 0 flips where v_y ≥ θ (t ≤ 0); p_m ≤ 0 where v_y < θ (t > 0): the first test, negated
            (local.set $neg (select (v128.const i64x2 0 0) (v128.const i64x2 -1 -1) (f64.gt (local.get $pm) (f64.const 0))))
            (local.set $sign (select (f64.const 1) (f64.const -1) (f64.gt (local.get $pm) (f64.const 0))))
            (local.set $vtRow (i32.add (local.get $vt) (i32.shl (i32.mul (local.get $m) (local.get $stride)) (i32.const 3))))
            (local.set $cmRow (i32.add (local.get $cmask) (i32.shl (i32.mul (local.get $m) (local.get $stride)) (i32.const 3))))
            (local.set $yv (v128.const i64x2 0 1))
            (local.set $y (i32.const 0))
            (local.set $n (i32.const 0))
            (loop $partners
              (local.set $cell (i32.shl (local.get $y) (i32.const 3)))
              ;; (an odd count's last pair of lanes holds one partner)
              (local.set $bits (i32.and (select (i32.const 1) (i32.const 3) (i32.ge_s (i32.add (local.get $y) (i32.const 1)) (local.get $count)))
                (i64x2.bitmask (v128.and
                  (v128.xor (f64x2.ge (v128.load (i32.add (local.get $vtRow) (local.get $cell))) (local.get $thetaV)) (local.get $neg))
                  (v128.or (v128.not (v128.load (i32.add (local.get $cmRow) (local.get $cell)))) (i64x2.gt_s (local.get $yv) (local.get $xv)))))))
              ;; listed by writing both and counting those that flip
              (i32.store (i32.add (local.get $list) (i32.shl (local.get $n) (i32.const 2))) (local.get $y))
              (local.set $n (i32.add (local.get $n) (i32.and (local.get $bits) (i32.const 1))))
              (i32.store (i32.add (local.get $list) (i32.shl (local.get $n) (i32.const 2))) (i32.add (local.get $y) (i32.const 1)))
              (local.set $n (i32.add (local.get $n) (i32.shr_u (local.get $bits) (i32.const 1))))
              (local.set $yv (i64x2.add (local.get $yv) (v128.const i64x2 2 2)))
              (local.set $y (i32.add (local.get $y) (i32.const 2)))
              (br_if $partners (i32.lt_s (local.get $y) (local.get $count))))
            (local.set $w (i32.add (local.get $rows) (i32.mul (local.get $m) (i32.const 80))))
            (local.set $end (i32.add (local.get $list) (i32.shl (local.get $n) (i32.const 2))))
            (local.set $cell (local.get $list))
            (block $flipsDone
              (loop $flips
                (br_if $flipsDone (i32.ge_u (local.get $cell) (local.get $end)))
                (local.set $j (i32.load (local.get $cell)))
                (local.set $f (f64x2.splat (f64.mul (local.get $sign)
                  (f64.sub (local.get $theta) (f64.load (i32.add (local.get $vtRow) (i32.shl (local.get $j) (i32.const 3))))))))
                (local.set $i (select (local.get $x) (local.get $j) (i32.lt_s (local.get $x) (local.get $j))))
                (local.set $j (select (local.get $j) (local.get $x) (i32.lt_s (local.get $x) (local.get $j))))
                (local.set $row (i32.add (i32.load (i32.add (local.get $starts) (i32.shl (local.get $i) (i32.const 2)))) (local.get $j)))
                (i32.store (i32.add (local.get $flags) (i32.shl (local.get $row) (i32.const 2))) (i32.const 1))
                (local.set $at (i32.add (local.get $acc) (i32.mul (local.get $row) (i32.const 80))))
                (v128.store offset=0 (local.get $at) (f64x2.add (v128.load offset=0 (local.get $at)) (f64x2.mul (local.get $f) (v128.load offset=0 (local.get $w)))))
                (v128.store offset=16 (local.get $at) (f64x2.add (v128.load offset=16 (local.get $at)) (f64x2.mul (local.get $f) (v128.load offset=16 (local.get $w)))))
                (v128.store offset=32 (local.get $at) (f64x2.add (v128.load offset=32 (local.get $at)) (f64x2.mul (local.get $f) (v128.load offset=32 (local.get $w)))))
                (v128.store offset=48 (local.get $at) (f64x2.add (v128.load offset=48 (local.get $at)) (f64x2.mul (local.get $f) (v128.load offset=48 (local.get $w)))))
                (v128.store offset=64 (local.get $at) (f64x2.add (v128.load offset=64 (local.get $at)) (f64x2.mul (local.get $f) (v128.load offset=64 (local.get $w)))))
                (local.set $cell (i32.add (local.get $cell) (i32.const 4)))
                (br $flips)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $candidate)))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $owners)))
    ;; 2. exp(−e) of every row that flipped a unit (its flag, cleared here); 1 elsewhere
    (local.set $row (i32.const 0))
    (local.set $n (i32.shr_u (i32.mul (local.get $count) (i32.sub (local.get $count) (i32.const 1))) (i32.const 1)))
    (block $expDone
      (loop $exps
        (br_if $expDone (i32.ge_u (local.get $row) (local.get $n)))
        (local.set $cell (i32.mul (local.get $row) (i32.const 80)))
        (local.set $w (i32.add (local.get $ex) (local.get $cell)))
        (local.set $at (i32.add (local.get $acc) (local.get $cell)))
        (local.set $i (i32.add (local.get $flags) (i32.shl (local.get $row) (i32.const 2))))
        (if (i32.load (local.get $i))
          (then
            (i32.store (local.get $i) (i32.const 0))
            (v128.store offset=0 (local.get $w) (call $exp (f64x2.neg (v128.load offset=0 (local.get $at)))))
            (v128.store offset=16 (local.get $w) (call $exp (f64x2.neg (v128.load offset=16 (local.get $at)))))
            (v128.store offset=32 (local.get $w) (call $exp (f64x2.neg (v128.load offset=32 (local.get $at)))))
            (v128.store offset=48 (local.get $w) (call $exp (f64x2.neg (v128.load offset=48 (local.get $at)))))
            (v128.store offset=64 (local.get $w) (call $exp (f64x2.neg (v128.load offset=64 (local.get $at))))))
          (else
            (v128.store offset=0 (local.get $w) (v128.const f64x2 1 1))
            (v128.store offset=16 (local.get $w) (v128.const f64x2 1 1))
            (v128.store offset=32 (local.get $w) (v128.const f64x2 1 1))
            (v128.store offset=48 (local.get $w) (v128.const f64x2 1 1))
            (v128.store offset=64 (local.get $w) (v128.const f64x2 1 1))))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $exps)))
    ;; 3. the rows
    (local.set $row (i32.const 0))
    (local.set $x (i32.const 0))
    (block $outerDone
      (loop $outer
        (br_if $outerDone (i32.ge_s (local.get $x) (i32.sub (local.get $count) (i32.const 1))))
        (local.set $ax (i32.add (local.get $a) (i32.mul (local.get $x) (i32.const 80))))
        (local.set $sx (f64.load (i32.add (local.get $sums) (i32.shl (local.get $x) (i32.const 3)))))
        (local.set $linx (f64.load (i32.add (local.get $linLabel) (i32.shl (local.get $x) (i32.const 3)))))
        (local.set $dx (f64.load (i32.add (local.get $dLabel) (i32.shl (local.get $x) (i32.const 3)))))
        (local.set $at (i32.add (local.get $products)
          (i32.shl (i32.mul (i32.load (i32.add (local.get $active) (i32.shl (local.get $x) (i32.const 2)))) (local.get $units)) (i32.const 3))))
        ;; where decisions are asked for (top ≥ 0, the intact prediction): zx = z − lin_x
        (if (i32.ge_s (local.get $top) (i32.const 0))
          (then
            (local.set $w (i32.add (local.get $lin) (i32.mul (local.get $x) (i32.const 80))))
            (local.set $zx0 (f64x2.sub (v128.load offset=0 (local.get $z)) (v128.load offset=0 (local.get $w))))
            (local.set $zx1 (f64x2.sub (v128.load offset=16 (local.get $z)) (v128.load offset=16 (local.get $w))))
            (local.set $zx2 (f64x2.sub (v128.load offset=32 (local.get $z)) (v128.load offset=32 (local.get $w))))
            (local.set $zx3 (f64x2.sub (v128.load offset=48 (local.get $z)) (v128.load offset=48 (local.get $w))))
            (local.set $zx4 (f64x2.sub (v128.load offset=64 (local.get $z)) (v128.load offset=64 (local.get $w))))))
        (local.set $y (i32.add (local.get $x) (i32.const 1)))
        (loop $inner
          (local.set $by (i32.add (local.get $b) (i32.mul (local.get $y) (i32.const 80))))
          (local.set $w (i32.add (local.get $acc) (i32.mul (local.get $row) (i32.const 80))))
          (local.set $cell (i32.add (local.get $ex) (i32.mul (local.get $row) (i32.const 80))))
          (local.set $extra (f64.load (i32.add (local.get $w) (i32.shl (local.get $label) (i32.const 3)))))
          ;; the decision: z' = zx − lin_y − e, its top class c (the lowest of equal tops) and whether c is clear: every
          ;; other class d has z'_c − z'_d > κ·(|z'_c| + |z'_d| + 1) (NaN never is). A row that is not clearly the intact
          ;; prediction t is picked: its cell (active[x]·units + active[y]) into `pick`, and into `classes` c where
          ;; clear, −1 where not.
          (if (i32.ge_s (local.get $top) (i32.const 0))
            (then
              (local.set $ly (i32.add (local.get $lin) (i32.mul (local.get $y) (i32.const 80))))
              (local.set $z0 (f64x2.sub (f64x2.sub (local.get $zx0) (v128.load offset=0 (local.get $ly))) (v128.load offset=0 (local.get $w))))
              (local.set $z1 (f64x2.sub (f64x2.sub (local.get $zx1) (v128.load offset=16 (local.get $ly))) (v128.load offset=16 (local.get $w))))
              (local.set $z2 (f64x2.sub (f64x2.sub (local.get $zx2) (v128.load offset=32 (local.get $ly))) (v128.load offset=32 (local.get $w))))
              (local.set $z3 (f64x2.sub (f64x2.sub (local.get $zx3) (v128.load offset=48 (local.get $ly))) (v128.load offset=48 (local.get $w))))
              (local.set $z4 (f64x2.sub (f64x2.sub (local.get $zx4) (v128.load offset=64 (local.get $ly))) (v128.load offset=64 (local.get $w))))
              (local.set $best (call $decide (local.get $z0) (local.get $z1) (local.get $z2) (local.get $z3) (local.get $z4) (local.get $kappa)))
              (i32.store (i32.add (local.get $pick) (i32.shl (local.get $picked) (i32.const 2)))
                (i32.add (i32.mul (i32.load (i32.add (local.get $active) (i32.shl (local.get $x) (i32.const 2)))) (local.get $units))
                  (i32.load (i32.add (local.get $active) (i32.shl (local.get $y) (i32.const 2))))))
              (i32.store (i32.add (local.get $classes) (i32.shl (local.get $picked) (i32.const 2))) (local.get $best))
              (local.set $picked (i32.add (local.get $picked) (i32.ne (local.get $best) (local.get $top))))))
          (v128.store offset=0 (local.get $w) (v128.const i64x2 0 0))
          (v128.store offset=16 (local.get $w) (v128.const i64x2 0 0))
          (v128.store offset=32 (local.get $w) (v128.const i64x2 0 0))
          (v128.store offset=48 (local.get $w) (v128.const i64x2 0 0))
          (v128.store offset=64 (local.get $w) (v128.const i64x2 0 0))
          (local.set $sum (f64x2.add
            (f64x2.add
              (f64x2.add (f64x2.mul (f64x2.mul (v128.load offset=0 (local.get $ax)) (v128.load offset=0 (local.get $by))) (v128.load offset=0 (local.get $cell)))
                (f64x2.mul (f64x2.mul (v128.load offset=16 (local.get $ax)) (v128.load offset=16 (local.get $by))) (v128.load offset=16 (local.get $cell))))
              (f64x2.add (f64x2.mul (f64x2.mul (v128.load offset=32 (local.get $ax)) (v128.load offset=32 (local.get $by))) (v128.load offset=32 (local.get $cell)))
                (f64x2.mul (f64x2.mul (v128.load offset=48 (local.get $ax)) (v128.load offset=48 (local.get $by))) (v128.load offset=48 (local.get $cell)))))
            (f64x2.mul (f64x2.mul (v128.load offset=64 (local.get $ax)) (v128.load offset=64 (local.get $by))) (v128.load offset=64 (local.get $cell)))))
          (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $sum)) (f64x2.extract_lane 1 (local.get $sum))))
          ;; the pair's cells
          (local.set $w (i32.add (local.get $at)
            (i32.shl (i32.load (i32.add (local.get $active) (i32.shl (local.get $y) (i32.const 2)))) (i32.const 3))))
          (local.set $product (f64.mul (f64.load (local.get $w))
            (f64.div (local.get $s) (f64.mul (local.get $sx) (f64.load (i32.add (local.get $sums) (i32.shl (local.get $y) (i32.const 3))))))))
          (local.set $other (i32.add (local.get $w) (i32.sub (local.get $logs) (local.get $products))))
          (local.set $extra (f64.add (local.get $extra)
            (f64.sub
              (f64.add (local.get $linx) (f64.load (i32.add (local.get $linLabel) (i32.shl (local.get $y) (i32.const 3)))))
              (f64.add (local.get $dx) (f64.load (i32.add (local.get $dLabel) (i32.shl (local.get $y) (i32.const 3))))))))
          (if (i32.and (f64.gt (local.get $product) (f64.const 1e-100)) (f64.lt (local.get $product) (f64.const 1e100)))
            (then (f64.store (local.get $w) (local.get $product)))
            (else
              (local.set $extra (f64.add (local.get $extra) (call $log (local.get $product))))
              (f64.store (local.get $w) (f64.const 1))))
          (f64.store (local.get $other) (f64.add (f64.load (local.get $other)) (local.get $extra)))
          (local.set $row (i32.add (local.get $row) (i32.const 1)))
          (local.set $y (i32.add (local.get $y) (i32.const 1)))
          (br_if $inner (i32.lt_s (local.get $y) (local.get $count))))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $outer)))
    (local.get $picked)))
