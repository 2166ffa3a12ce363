#!/bin/sh
# examples/test_examples.sh — the example programs on tiny configurations.
#
#   sh examples/test_examples.sh [BUILD_DIR]      (make examples-test)
#
# For every program that was built: --help, the bad-input rules (unknown flag,
# malformed number, out-of-range values, shard k >= N, unwritable --out →
# exit status 2 and one line naming the flag), then a tiny run: exit status
# 0 or 1 (claims may fail at this size; a crash or a usage error fails), the
# CSV header and row count, well-formed SVG files, the direction of the
# paper's claim, the same CSV for 1 and 2 threads, and sharded runs that
# merge (by the command --help documents) into the unsharded CSV.
# Ends with the line "N passed, N failed"; exit status = failures (max 1).

B=${1:-build}
T=$(mktemp -d "${TMPDIR:-/tmp}/sam_examples.XXXXXX")
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT INT TERM
pass=0
fail=0
# a hung program fails its check instead of hanging the test (status 124)
TO=
command -v timeout >/dev/null 2>&1 && TO="timeout 300"

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# check NAME CONDITION-COMMAND...
check() {
    _what=$1; shift
    if "$@"; then ok; else bad "$_what"; fi
}

# expect2 PROG FLAGNAME ARGS...: exit status 2 and a single stderr line naming FLAGNAME
expect2() {
    prog=$1; flag=$2; shift 2
    $TO "$B/$prog" "$@" --out "$T/bad" >"$T/stdout" 2>"$T/stderr"
    st=$?
    lines=$(wc -l <"$T/stderr")
    if [ "$st" -eq 2 ] && [ "$lines" -eq 1 ] && grep -q -- "$flag" "$T/stderr" && [ ! -s "$T/stdout" ]; then
        ok
    else
        bad "$prog $* → status $st, stderr: $(head -c 200 "$T/stderr")"
    fi
}

# svg_ok DIR: every SVG starts with <svg and ends with </svg>; at least one
svg_ok() {
    n=0
    for f in "$1"/*.svg; do
        [ -f "$f" ] || continue
        n=$((n + 1))
        head -c 4 "$f" | grep -q '<svg' || { echo "  $f does not start with <svg"; return 1; }
        [ "$(tail -n 1 "$f")" = "</svg>" ] || { echo "  $f does not end with </svg>"; return 1; }
        # balanced: as many <g and <text openings as closings
        o=$(grep -o '<text' "$f" | wc -l); c=$(grep -o '</text>' "$f" | wc -l)
        [ "$o" -eq "$c" ] || { echo "  $f: unbalanced <text>"; return 1; }
    done
    [ "$n" -gt 0 ]
}

# rows FILE: data rows (header excluded)
rows() { tail -n +2 "$1" | wc -l | tr -d ' '; }

# drop the timing column (named "seconds") so runs can be compared
strip_seconds() {
    awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="seconds") c=i} {s=""; for(i=1;i<=NF;i++) if(i!=c) s=s (s==""?"":",") $i; print s}' "$1"
}

# mean of column COL over rows where column "method" equals M
col_mean() {
    awk -F, -v m="$2" -v col="$3" 'NR==1{for(i=1;i<=NF;i++){if($i=="method")a=i; if($i==col)b=i}; next}
        $a==m{s+=$b; k++} END{if(k) printf "%.6f\n", s/k; else print "nan"}' "$1"
}

# common bad-input rules for every program
common_bad() {
    p=$1
    $TO "$B/$p" --help >"$T/help" 2>&1
    check "$p --help exits 0" [ $? -eq 0 ]
    check "$p --help prints usage" grep -q "usage: $p" "$T/help"
    check "$p --help documents the shard merge" grep -q "tail -q -n +2" "$T/help"
    expect2 "$p" --bogus-flag --bogus-flag
    expect2 "$p" --seeds --seeds 2x
    expect2 "$p" --seeds --seeds 0
    expect2 "$p" --shard --shard 2/2
    expect2 "$p" --shard --shard 3/2
    expect2 "$p" --shard --shard x
    expect2 "$p" --threads --threads 0
    expect2 "$p" --seed --seed -1
    touch "$T/afile"
    $TO "$B/$p" --out "$T/afile/sub" >"$T/stdout" 2>"$T/stderr"
    st=$?
    if [ $st -eq 2 ] && grep -q -- "--out" "$T/stderr" && [ ! -s "$T/stdout" ]; then ok; else bad "$p unwritable --out → $st"; fi
    $TO "$B/$p" --out "$T/afile" >"$T/stdout" 2>"$T/stderr"
    st=$?
    if [ $st -eq 2 ] && grep -q -- "--out" "$T/stderr"; then ok; else bad "$p --out FILE → $st"; fi
}

# tiny_run PROG NAME ARGS...: runs into $T/NAME; status 0/1 accepted
tiny_run() {
    p=$1; name=$2; shift 2
    $TO "$B/$p" --quiet --out "$T/$name" "$@" >"$T/$name.stdout" 2>"$T/$name.stderr"
    st=$?
    if [ $st -eq 0 ] || [ $st -eq 1 ]; then ok; else bad "$p $* → status $st: $(tail -n 3 "$T/$name.stderr")"; fi
    if [ $st -eq 1 ] && ! grep -q '^FAIL' "$T/$name.stdout"; then
        bad "$p $* → status 1 without a FAIL line: $(tail -n 2 "$T/$name.stderr")"
    fi
    check "$p prints PASS/FAIL lines" grep -q -E '^(PASS|FAIL)  ' "$T/$name.stdout"
    check "$p prints the claim summary" grep -q -E '^[0-9]+ claims passed, [0-9]+ failed' "$T/$name.stdout"
    check "$p writes well-formed SVG" svg_ok "$T/$name"
    return 0
}

# csv_ok FILE HEADER-PREFIX ROWS
csv_ok() {
    [ -f "$1" ] || { echo "  missing $1"; return 1; }
    head -n 1 "$1" | grep -q "^$2" || { echo "  $1 header: $(head -n 1 "$1")"; return 1; }
    [ "$(rows "$1")" -eq "$3" ] || { echo "  $1 has $(rows "$1") rows, want $3"; return 1; }
    # every row has as many fields as the header
    awk -F, 'NR==1{n=NF} NF!=n{exit 1}' "$1" || { echo "  $1: ragged rows"; return 1; }
}

# shard_check PROG NAME CSVNAME ARGS...: 2 shards merge into the full CSV
shard_check() {
    p=$1; name=$2; csv=$3; shift 3
    $TO "$B/$p" --quiet --out "$T/$name.sh" --shard 0/2 "$@" >/dev/null 2>&1
    $TO "$B/$p" --quiet --out "$T/$name.sh" --shard 1/2 "$@" >/dev/null 2>&1
    head -1 "$T/$name.sh/$csv.shard0of2.csv" >"$T/$name.merged.csv"
    tail -q -n +2 "$T/$name.sh/$csv.shard"*of2.csv | sort -t, -k1,1n >>"$T/$name.merged.csv"
    strip_seconds "$T/$name.merged.csv" >"$T/a.csv"
    strip_seconds "$T/$name/$csv.csv" >"$T/b.csv"
    check "$p: shards 0/2 + 1/2 merge into the unsharded $csv.csv" cmp -s "$T/a.csv" "$T/b.csv"
}

# ---- phase_transition ---------------------------------------------------
if [ -x "$B/phase_transition" ]; then
    p=phase_transition
    common_bad $p
    expect2 $p --noise --noise 0.5
    expect2 $p --noise --noise 0.7
    expect2 $p --d --d -1
    expect2 $p --d --d 12.5
    expect2 $p --mu --mu abc
    expect2 $p --rho --rho -0.1
    expect2 $p --epochs --epochs 0
    expect2 $p --lr --lr 0
    expect2 $p --grid-d --grid-d 500,,1000
    expect2 $p --grid-d --grid-d 500,-2
    expect2 $p --sam-epochs --sam-epochs 500 --early-epochs 400
    expect2 $p --batch --batch 50 --n 20
    TINY="--seeds 2 --epochs 60 --sam-epochs 20 --early-epochs 80 --grid-epochs 60 --grid-d 500,2000 --grid-mu 1,4 --grid-seeds 2"
    tiny_run $p pt $TINY
    check "$p headline.csv" csv_ok "$T/pt/headline.csv" "run,method,d,mu" 6
    check "$p grid.csv" csv_ok "$T/pt/grid.csv" "run,method,d,mu" 16
    check "$p headline table" grep -q "SAM-early" "$T/pt.stdout"
    sgd=$(col_mean "$T/pt/headline.csv" SGD test_err)
    early=$(col_mean "$T/pt/headline.csv" SAM-early test_err)
    check "$p direction: SAM-early test error ($early) < SGD's ($sgd)" awk -v a="$early" -v b="$sgd" 'BEGIN{exit !(a < b)}'
    tiny_run $p pt1 $TINY --threads 1
    strip_seconds "$T/pt/headline.csv" >"$T/a.csv"; strip_seconds "$T/pt1/headline.csv" >"$T/b.csv"
    check "$p: same headline.csv for 1 and 2 threads" cmp -s "$T/a.csv" "$T/b.csv"
    strip_seconds "$T/pt/grid.csv" >"$T/a.csv"; strip_seconds "$T/pt1/grid.csv" >"$T/b.csv"
    check "$p: same grid.csv for 1 and 2 threads" cmp -s "$T/a.csv" "$T/b.csv"
    shard_check $p pt grid $TINY
    $TO "$B/$p" --quiet --no-headline --out "$T/ptm" --grid-csv "$T/pt.merged.csv" $TINY >"$T/ptm.stdout" 2>&1
    grep -E '^(PASS|FAIL)' "$T/ptm.stdout" >"$T/a.txt"
    sed -n '/grid, on cell means/,$p' "$T/pt.stdout" | grep -E '^(PASS|FAIL)' >"$T/b.txt"
    check "$p: --grid-csv on the merged shards gives the unsharded grid claims" cmp -s "$T/a.txt" "$T/b.txt"
    expect2 $p --grid-csv --grid-csv "$T/pt.merged.csv" $TINY --grid-mu 1,3
    expect2 $p --grid-csv --grid-csv "$T/does-not-exist.csv"
    $TO "$B/$p" --quiet --out "$T/pts" --shard 1/2 $TINY >"$T/pts.stdout" 2>&1
    check "$p: a shard skips the claims and exits 0" [ $? -eq 0 ]
    check "$p: a shard says SKIP" grep -q '^SKIP' "$T/pts.stdout"
fi

# ---- noise_memorization --------------------------------------------------
if [ -x "$B/noise_memorization" ]; then
    p=noise_memorization
    common_bad $p
    expect2 $p --noise --noise 0.5
    expect2 $p --d --d -5
    expect2 $p --rho --rho -1
    expect2 $p --epochs --epochs 0
    TINY="--seeds 2 --epochs 4 --d 1000"
    tiny_run $p nm $TINY
    check "$p curves.csv" csv_ok "$T/nm/curves.csv" "run,method,seed,epoch" 20
    tiny_run $p nm1 $TINY --threads 1
    strip_seconds "$T/nm/curves.csv" >"$T/a.csv"; strip_seconds "$T/nm1/curves.csv" >"$T/b.csv"
    check "$p: same curves.csv for 1 and 2 threads" cmp -s "$T/a.csv" "$T/b.csv"
    sgd=$(awk -F, 'NR==1{for(i=1;i<=NF;i++){if($i=="method")a=i; if($i=="epoch")e=i; if($i=="mean_rho_pos")c=i}; next} $a=="SGD"&&$e==2{s+=$c;k++} END{print s/k}' "$T/nm/curves.csv")
    sam=$(awk -F, 'NR==1{for(i=1;i<=NF;i++){if($i=="method")a=i; if($i=="epoch")e=i; if($i=="mean_rho_pos")c=i}; next} $a=="SAM"&&$e==2{s+=$c;k++} END{print s/k}' "$T/nm/curves.csv")
    check "$p direction: mean ρ̄ at epoch 2 under SAM ($sam) < SGD ($sgd)" awk -v a="$sam" -v b="$sgd" 'BEGIN{exit !(a < b)}'
fi

# ---- flatness_scenarios --------------------------------------------------
if [ -x "$B/flatness_scenarios" ]; then
    p=flatness_scenarios
    common_bad $p
    expect2 $p --d --d -3
    expect2 $p --rho --rho -0.5
    expect2 $p --epochs-nobias --epochs-nobias 0
    expect2 $p --width --width 0
    TINY="--seeds 1 --n 20 --width 50 --epochs-nobias 20 --epochs-bias 20 --epochs-gd 200 --epochs-ln 20 --n-test 500"
    tiny_run $p fs $TINY
    check "$p runs.csv" csv_ok "$T/fs/runs.csv" "run,scenario,model,method" 4
    check "$p prints the theoretical minimum" grep -q "22.27" "$T/fs.stdout"
    check "$p: analytic constructions PASS" grep -q "^PASS  analytic" "$T/fs.stdout"
    gd=$(awk -F, 'NR>1 && $3=="Bias" && $4=="GD+wd"{print $13}' "$T/fs/runs.csv")
    sam=$(awk -F, 'NR>1 && $3=="Bias" && $4=="1-SAM"{print $13}' "$T/fs/runs.csv")
    check "$p direction: Bias 1-SAM is flatter (tr $sam) than GD+wd (tr $gd)" awk -v a="$sam" -v b="$gd" 'BEGIN{exit !(a < b)}'
fi

# ---- first_order_magic ---------------------------------------------------
if [ -x "$B/first_order_magic" ]; then
    p=first_order_magic
    common_bad $p
    expect2 $p --rho --rho -1
    expect2 $p --noise --noise 0.5
    expect2 $p --epochs --epochs 0
    expect2 $p --N --N 1,0
    TINY="--seeds 1 --epochs 30 --N 1,2 --fmnist-n 200 --fmnist-test 200 --fmnist-epochs 2 --avg-dirs 10 --fmnist-dir data"
    tiny_run $p fo $TINY
    want=4
    [ -f data/train-images-idx3-ubyte ] && [ -f data/t10k-images-idx3-ubyte ] && want=8
    check "$p runs.csv" csv_ok "$T/fo/runs.csv" "run,setting,method" $want
    sgd=$(awk -F, 'NR>1 && $2=="chen" && $3=="SGD"{print $8}' "$T/fo/runs.csv")
    sam=$(awk -F, 'NR>1 && $2=="chen" && $3=="SAM" && $4==1{print $8}' "$T/fo/runs.csv")
    check "$p direction: SAM N=1 test error ($sam) < SGD's ($sgd)" awk -v a="$sam" -v b="$sgd" 'BEGIN{exit !(a < b)}'
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
