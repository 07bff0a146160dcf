#!/bin/sh
# Runs every fuzz target (Fuzz/) under libFuzzer for SECONDS each, from the committed seed corpus.
# The working corpus and any crash go to $FUZZ_DIR (outside the repository); a crash fails the run
# and is named, so it can be fixed and its input committed under Fuzz/Corpus/<target>/.
set -eu
SWIFT=${SWIFT:-swift}
SECONDS_EACH=${FUZZ_SECONDS:-60}
FUZZ_DIR=${FUZZ_DIR:-/var/tmp/strata-fuzz}
TARGETS=${TARGETS:-"tar gzip zstd dockerfile dockerignore reference manifest gotemplate www-authenticate registry-route registry-upload"}

mkdir -p "$FUZZ_DIR"
FLAGS="--product strata-fuzz --build-path .build/fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING"
echo "building the fuzz targets with libFuzzer and AddressSanitizer (.build/fuzz)"
# The sanitizer runtime's symbols make the linker warn by the hundred: the log keeps them.
if ! $SWIFT build $FLAGS >"$FUZZ_DIR/build.log" 2>&1; then
    grep -v "Cannot export local symbol" "$FUZZ_DIR/build.log" | tail -40
    exit 1
fi
BIN=$($SWIFT build $FLAGS --show-bin-path)/strata-fuzz

failed=""
summary=""
for target in $TARGETS; do
    corpus="$FUZZ_DIR/corpus/$target"
    crashes="$FUZZ_DIR/crashes/$target"
    mkdir -p "$corpus" "$crashes"
    log="$FUZZ_DIR/$target.log"
    echo "fuzzing $target for ${SECONDS_EACH}s"
    if STRATA_FUZZ_TARGET=$target LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp" "$BIN" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
        -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" "Fuzz/Corpus/$target" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        summary="$summary\n  $target: ${runs:-?} executions, no crash"
    else
        summary="$summary\n  $target: FAILED, see $log and $crashes"
        failed="$failed $target"
        tail -40 "$log"
    fi
done
printf "fuzz summary (%ss each):$summary\n" "$SECONDS_EACH"
if [ -n "$failed" ]; then
    echo "fuzz targets that crashed:$failed" >&2
    exit 1
fi
