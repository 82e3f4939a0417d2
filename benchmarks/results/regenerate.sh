#!/usr/bin/env bash
# Regenerates this folder: classical methods, both UDPNets, both UFA-Fuses, MSA-Siamese, enfuse
# on ../shared's real sets and on two synthetic ground-truth sets built here. Needs ../shared
# beside the project, enfuse (apt-get install enfuse) and the project's .venv. About 45 minutes
# on 2 cores from scratch, a minute with the cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
MFIF=.venv/bin/mfif
NATURAL=../shared/datasets/natural
SYNTH=build/synthetic
CLASSICAL=guided-decision,gff,laplacian-pyramid,dwt,sf,maxgrad
$MFIF synth depth "$NATURAL/middlebury2006/images" "$NATURAL/middlebury2006/depth" \
    "$SYNTH/middlebury2006-depth" --planes 2 --max-blur 8
$MFIF synth mask "$NATURAL/davis2016/images/*_00040.jpg" "$NATURAL/davis2016/masks" \
    "$SYNTH/davis2016-mask" --seed 0
$MFIF bench ../shared/datasets/real "$SYNTH" \
    --methods "$CLASSICAL,enfuse,udpnet,udpnet-paper,ufa-fuse,ufa-fuse-paper,msa-siamese" \
    --out benchmarks/results --report-scenes 2 \
    --title "Classical methods, UDPNet, UFA-Fuse, MSA-Siamese and enfuse"
