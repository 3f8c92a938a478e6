#!/usr/bin/env bash
# CI's check that the benchmark still works: builds the silo and the bench, then runs every scenario once
# at a tiny size. Exits non-zero when a scenario errors or a count is wrong; timings are never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release --nologo -v q src/Silo
dotnet build -c Release --nologo -v q bench
exec dotnet run -c Release --no-build --project bench -- all --smoke --no-build "$@"
