#!/usr/bin/env bash
# CI's check that the benchmark still works: builds the silo and the bench, then runs every scenario once
# at a tiny size. Exits non-zero when a scenario errors or a count is wrong; timings are never asserted.
# Then the one regression guard on cost: a short, warmed-up `short` pair that fails when TaskStream's CPU per
# stream is more than 2.5 times the baseline's (loose on purpose: it catches a doubling, not this machine's noise).
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release --nologo -v q src/Silo
dotnet build -c Release --nologo -v q bench
dotnet run -c Release --no-build --project bench -- all --smoke --no-build "$@"
exec dotnet run -c Release --no-build --project bench -- short --warmup 15 --duration 8 --clients 64 --max-cpu-ratio 2.5 --no-build "$@"
