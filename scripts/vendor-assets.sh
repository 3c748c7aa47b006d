#!/usr/bin/env bash
# Copy the front-end packages installed by `npm ci` (node_modules/) into meridian/static/vendor/,
# where Django's staticfiles and WhiteNoise serve them. Nothing is ever loaded from a CDN.
# meridian/static/vendor/ is generated (gitignored); run `make assets` to refresh it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/node_modules"
dest="$root/meridian/static/vendor"

if [[ ! -d "$src" ]]; then
    echo "vendor-assets: $src is missing; run 'npm ci' first" >&2
    exit 1
fi

# copy SRC DEST: one file, failing loudly if the package no longer ships it. A file that names its
# source map (sourceMappingURL=NAME.map) gets the map beside it: collectstatic with WhiteNoise's
# manifest storage rewrites that reference and fails if the map is missing.
copy() {
    if [[ ! -f "$src/$1" ]]; then
        echo "vendor-assets: $src/$1 not found (did the package layout change?)" >&2
        exit 1
    fi
    mkdir -p "$(dirname "$dest/$2")"
    cp "$src/$1" "$dest/$2"
    local map
    map="$(grep -a -o 'sourceMappingURL=[^ *]*\.map' "$src/$1" | tail -n 1 | cut -d= -f2 || true)"
    if [[ -n "$map" ]]; then
        if [[ ! -f "$(dirname "$src/$1")/$map" ]]; then
            echo "vendor-assets: $1 names the source map $map, which the package does not ship" >&2
            exit 1
        fi
        cp "$(dirname "$src/$1")/$map" "$(dirname "$dest/$2")/$map"
    fi
}

rm -rf "$dest"
mkdir -p "$dest"

copy htmx.org/dist/htmx.min.js                 htmx/htmx.min.js

# Chart.js 4 ships a minified UMD build; older 4.x releases only had chart.umd.js (already minified).
if [[ -f "$src/chart.js/dist/chart.umd.min.js" ]]; then
    copy chart.js/dist/chart.umd.min.js        chartjs/chart.umd.min.js
else
    copy chart.js/dist/chart.umd.js            chartjs/chart.umd.js
fi

copy cytoscape/dist/cytoscape.min.js           cytoscape/cytoscape.min.js

# Tom Select: the searchable select of record pickers (meridian.js, "widgets" section), styled for Bootstrap 5.
copy tom-select/dist/js/tom-select.complete.min.js     tom-select/tom-select.complete.min.js
copy tom-select/dist/css/tom-select.bootstrap5.min.css tom-select/tom-select.bootstrap5.min.css

copy bootstrap/dist/css/bootstrap.min.css      bootstrap/bootstrap.min.css
copy bootstrap/dist/js/bootstrap.bundle.min.js bootstrap/bootstrap.bundle.min.js

# The icon CSS refers to its fonts as url("fonts/bootstrap-icons.woff2?..."): keep fonts/ beside it.
copy bootstrap-icons/font/bootstrap-icons.min.css bootstrap-icons/bootstrap-icons.min.css
for font in "$src"/bootstrap-icons/font/fonts/*.woff "$src"/bootstrap-icons/font/fonts/*.woff2; do
    copy "bootstrap-icons/font/fonts/$(basename "$font")" "bootstrap-icons/fonts/$(basename "$font")"
done

echo "vendor-assets: copied front-end packages into ${dest#"$root"/}"
