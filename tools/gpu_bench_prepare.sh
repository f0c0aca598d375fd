#!/usr/bin/env bash
# Prepares what tools/gpu_bench.sh installs on a bare GPU machine, in the working tree
# (both paths are gitignored; carry them to the machine with the tree):
#   .bin/deno.xz   this machine's Deno, xz-compressed (about a third of its size)
#   .gl/*.deb      the Vulkan loader (libvulkan1) for amd64, from this machine's apt sources
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p .bin .gl
deno_bin="$(readlink -f "$(command -v deno)")"
echo "gpu_bench_prepare: compressing $deno_bin into .bin/deno.xz"
xz -T2 -c "$deno_bin" >.bin/deno.xz

echo "gpu_bench_prepare: downloading libvulkan1 (amd64) into .gl/"
lists=/tmp/amd64
mkdir -p "$lists/partial"
o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
apt-get "${o[@]}" update -q
rm -f .gl/*.deb
(cd .gl && apt-get "${o[@]}" download libvulkan1)
ls -la .bin/deno.xz .gl/
