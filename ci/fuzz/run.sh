#!/usr/bin/env bash
# Builds the coverage-guided fuzz targets in fuzz/ (cargo-fuzz, libFuzzer) and runs each for
# a bounded time. Fails when a target crashes (a panic, a failed assertion, a timeout or an
# out-of-memory), and prints where the reproducer was written.
#
#   bash ci/fuzz/run.sh                        # every target, 45 s each
#   DORA_FUZZ_SECONDS=300 bash ci/fuzz/run.sh repository_ref timestamps
#   bash ci/fuzz/run.sh --repro deployment_body path/to/crash-…   # rerun one input
#
# Settings (environment):
#   DORA_FUZZ_SECONDS      seconds per target, default 45
#   DORA_FUZZ_TARGET_DIR   cargo target dir for the fuzz build, default fuzz/target
#                          (not $CARGO_TARGET_DIR: the instrumented build is a different one)
#   DORA_FUZZ_WORK         corpus and crash artifacts, default <target dir>/fuzz-work
#                          (keep it between CI runs to keep the corpus growing)
#   DORA_FUZZ_KEEP_GOING   1: continue after a crash (libFuzzer -fork=1 -ignore_crashes=1)
#                          to collect every distinct crash in one run; still exits non-zero
#   DORA_FUZZ_SANITIZER    none (default) or address; address needs RUSTC_BOOTSTRAP=1 on
#                          stable (set here) and a separate, slower build
#   DORA_CI_CACHE          where cargo-fuzz is installed, default
#                          ${XDG_CACHE_HOME:-$HOME/.cache}/dora-tracker-ci
#
# Toolchain: plain stable Rust. `--sanitizer none` needs no nightly flag (coverage comes from
# -Cpasses=sancov-module, which stable accepts); ASan needs -Zsanitizer. See
# ci/fuzz/FINDINGS.md for what was tried and what each costs here.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
fuzz_dir="$root/fuzz"
cargo_fuzz_version=0.13.2

seconds="${DORA_FUZZ_SECONDS:-45}"
target_dir="${DORA_FUZZ_TARGET_DIR:-$fuzz_dir/target}"
work="${DORA_FUZZ_WORK:-$target_dir/fuzz-work}"
cache="${DORA_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dora-tracker-ci}"
tools="$cache/cargo-tools"

# --- cargo-fuzz, pinned, installed once into the cache -----------------------------------
if ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep -qx "cargo-fuzz $cargo_fuzz_version"; then
  echo "fuzz: installing cargo-fuzz $cargo_fuzz_version into $tools"
  CARGO_TARGET_DIR="$target_dir/install" \
    cargo install --locked --quiet --root "$tools" --version "$cargo_fuzz_version" cargo-fuzz
fi
export PATH="$tools/bin:$PATH"
sanitizer="${DORA_FUZZ_SANITIZER:-none}"
if [ "$sanitizer" != none ]; then
  # -Zsanitizer is a nightly flag; RUSTC_BOOTSTRAP lets stable rustc take it. Only then:
  # it also changes what some build scripts detect, so it must not leak into other builds.
  export RUSTC_BOOTSTRAP=1
  target_dir="$target_dir/$sanitizer"
  work="${DORA_FUZZ_WORK:-$target_dir/fuzz-work}"
fi
export CARGO_TARGET_DIR="$target_dir"
fuzz=(cargo fuzz)
# The dev profile (debug assertions, no optimization) and 16 codegen units: the instrumented
# build of the whole dependency tree is what costs (about 33 min optimized on a busy 2-core
# machine), while a bounded run gets enough executions unoptimized. DORA_FUZZ_PROFILE=release
# for long local runs.
profile_flag=(--dev)
[ "${DORA_FUZZ_PROFILE:-dev}" = release ] && profile_flag=(-O)
common=(--fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" --codegen-units 16 "${profile_flag[@]}")

all_targets() { "${fuzz[@]}" list --fuzz-dir "$fuzz_dir"; }

dict_for() {
  case "$1" in
    deployment_body | github_bodies) echo "$fuzz_dir/dicts/json.dict" ;;
    repository_ref | timestamps | http_params) echo "$fuzz_dir/dicts/url.dict" ;;
  esac
}

if [ "${1:-}" = --repro ]; then
  target="$2"
  input="$3"
  "${fuzz[@]}" run "${common[@]}" "$target" "$input"
  exit $?
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(all_targets)
fi

echo "== fuzz: building ${#targets[@]} targets (${DORA_FUZZ_PROFILE:-dev} profile, sanitizer $sanitizer)"
started=$SECONDS
"${fuzz[@]}" build "${common[@]}"
echo "fuzz: built in $((SECONDS - started))s"

declare -A verdict execs
overall=0
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  artifacts="$work/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  log="$work/$target.log"
  args=(
    -max_total_time="$seconds"
    -timeout=10
    -rss_limit_mb=2048
    -max_len=65536
    -print_final_stats=1
    -artifact_prefix="$artifacts/"
  )
  dict="$(dict_for "$target")"
  [ -n "$dict" ] && args+=(-dict="$dict")
  if [ "${DORA_FUZZ_KEEP_GOING:-0}" = 1 ]; then
    args+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  echo "== fuzz: $target for ${seconds}s (corpus $corpus)"
  before="$(find "$artifacts" -type f | wc -l)"
  rc=0
  # The first corpus directory receives new inputs; the committed seeds and regressions
  # (inputs that crashed once: see ci/fuzz/FINDINGS.md) are read only, and run first.
  corpora=("$corpus" "$fuzz_dir/seeds/$target")
  [ -d "$fuzz_dir/regressions/$target" ] && corpora+=("$fuzz_dir/regressions/$target")
  "${fuzz[@]}" run "${common[@]}" "$target" "${corpora[@]}" -- "${args[@]}" \
    </dev/null >"$log" 2>&1 || rc=$?
  after="$(find "$artifacts" -type f | wc -l)"
  # The final stats line; in fork mode, the last progress line's count.
  execs[$target]="$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n1 || true)"
  [ -n "${execs[$target]}" ] || execs[$target]="$(grep -ao '^#[0-9]*' "$log" | tail -n1 | tr -d '#' || true)"
  if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
    verdict[$target]="CRASHED (exit $rc)"
    overall=1
    grep -E "panicked at|Assertion|assert|ERROR: libFuzzer|Test unit written to" "$log" | head -n 20 >&2 || true
    echo "fuzz: $target: reproduce with: bash ci/fuzz/run.sh --repro $target <file above>" >&2
    echo "fuzz: full log: $log" >&2
  else
    verdict[$target]=passed
  fi
done

echo
echo "== fuzz summary (${seconds}s per target; corpus and artifacts in $work)"
for target in "${targets[@]}"; do
  printf '%-18s %s, %s executions\n' "$target" "${verdict[$target]}" "${execs[$target]:-?}"
done
exit "$overall"
