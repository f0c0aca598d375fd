#!/usr/bin/env bash
# The whole GPU measurement in one go, on a bare GPU machine (NVIDIA driver present, no Deno,
# no Vulkan loader, no network): installs the Deno and the Vulkan loader carried in the
# working tree, then runs `deno task doctor`, the scan launch plan, `deno task bench scan`
# (stage-1 shape, batch 1/8/32, both kernel choices side by side) and `deno task bench
# model` (vmunet-s 256², batch 1/8/16/32), writing everything under $OUT.
#
#   tools/gpu_bench.sh [--quick]
#
# --quick: small shapes and batch 1 only, so that it finishes in a couple of minutes on a
# software adapter (how the script is checked on a machine without a GPU).
#
# What it needs in the working tree (both gitignored; made by tools/gpu_bench_prepare.sh):
#   .bin/deno.xz   the Deno binary, xz-compressed
#   .gl/*.deb      the Vulkan loader (libvulkan1) for this distribution
# Each step has its own time limit (together under 10 minutes, one device command), so one
# stuck step cannot eat the machine's budget.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    *)
      echo "gpu_bench: unknown argument $arg (usage: tools/gpu_bench.sh [--quick])" >&2
      exit 2
      ;;
  esac
done

OUT="${OUT:-runs/gpu_bench}"
mkdir -p "$OUT"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
log="$OUT/gpu_bench.log"
: >"$log"
say() { echo "gpu_bench: $*" | tee -a "$log"; }

# Deno: the carried binary when there is none (or when .bin/deno.xz is newer).
if [ -f .bin/deno.xz ]; then
  bin="${TMPDIR:-/tmp}/gpu_bench_deno"
  mkdir -p "$bin"
  if [ ! -x "$bin/deno" ] || [ .bin/deno.xz -nt "$bin/deno" ]; then
    say "unpacking .bin/deno.xz"
    if command -v xz >/dev/null 2>&1; then
      xz -dc .bin/deno.xz >"$bin/deno"
    else
      python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
        .bin/deno.xz "$bin/deno"
    fi
    chmod +x "$bin/deno"
  fi
  export PATH="$bin:$PATH"
fi
if ! command -v deno >/dev/null 2>&1; then
  say "no deno: carry .bin/deno.xz (tools/gpu_bench_prepare.sh) or install Deno 2"
  exit 2
fi
say "$(deno --version | head -n1)"

# Vulkan loader: the carried .debs when the system has none.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  if compgen -G ".gl/*.deb" >/dev/null; then
    say "installing the Vulkan loader from .gl/"
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  else
    say "no libvulkan.so.1 and no .gl/*.deb: WebGPU will find no adapter"
  fi
fi

status=0
# step NAME SECONDS CMD…: runs CMD with a time limit, output to $OUT/NAME.txt and the log.
step() {
  local name="$1" limit="$2"
  shift 2
  say "== $name: $* (limit ${limit}s)"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.txt" >>"$log"
  local rc=${PIPESTATUS[0]}
  say "== $name: exit $rc after $((SECONDS - t0)) s"
  [ "$rc" -eq 0 ] || status=1
}

md="$OUT/BENCHMARKS.md"
step doctor 60 deno task doctor
step scan_plan 30 deno task bench scan --plan --update-md "$md"
if [ "$quick" -eq 1 ]; then
  step scan 300 deno task bench scan --shapes 64x256 --batches 1 --adapter-class both \
    --json "$OUT/scan.json" --update-md "$md"
  step model 300 deno task bench model --quick --json "$OUT/model.json" --update-md "$md"
else
  step scan 200 deno task bench scan --shapes 768x4096 --batches 1,8,32 --adapter-class both \
    --json "$OUT/scan.json" --update-md "$md"
  step model 270 deno task bench model --presets vmunet-s --batches 1,8,16,32 \
    --json "$OUT/model.json" --update-md "$md"
fi
say "results in $OUT (BENCHMARKS.md sections, *.json, one .txt per step); status $status"
exit "$status"
