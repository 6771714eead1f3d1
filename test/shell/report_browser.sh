#!/usr/bin/env bash
# aigc_report in a browser: the document of a demo model, rendered by headless
# Chromium (Debian's chromium package, installed when missing), loads without
# errors, its DOM holds the expected number of SVG charts, and a screenshot is
# written to results/report_browser/ (kept for people to look at).
source "$(dirname "${BASH_SOURCE[0]}")/lib/tap.sh"
plan 7

db=aigc_report_browser
out="$ROOT/results/report_browser"
mkdir -p "$out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

# a subshell: ensure_packages exits on failure, which the first check reports
command -v chromium >/dev/null || (ensure_packages chromium) >/dev/null 2>&1
ok bash -c "command -v chromium >/dev/null" "headless Chromium is available"

pg_psql -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
pg_psql -d "$db" -c "CREATE EXTENSION aigc_pg" >/dev/null
(cd "$ROOT" && pg_psql -d "$db" -f data/contributions.sql >/dev/null)
q "$db" "CREATE TABLE browse AS SELECT * FROM contributions WHERE id <= 4000;
         SELECT (aigc_train('browse_vae', 'browse'::regclass,
                 options => '{\"epochs\": 5, \"seed\": 2, \"exclude\": [\"id\"], \"progress_every\": 0}')).version" >/dev/null
charts=$(( $(q "$db" "SELECT jsonb_array_length(columns) FROM aigc.models WHERE name = 'browse_vae'") + 4 ))

PGDATABASE=$db bash "$ROOT/scripts/report.sh" browse_vae browse --target paid_on_time --group-by employer_type \
    --n 2000 > "$out/report.html"
is "$(head -c 15 "$out/report.html")" "<!DOCTYPE html>" "scripts/report.sh writes the HTML document"

browse() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$profile" \
        --enable-logging=stderr --v=0 "$@" "file://$out/report.html"
}
browse --dump-dom > "$out/dom.html" 2> "$out/chromium.log"
ok test -s "$out/dom.html" "Chromium loads the document and dumps its DOM"
is "$(grep -o '<svg' "$out/dom.html" | wc -l)" "$charts" \
    "the rendered DOM holds $charts SVG charts (one per column, heatmap, loss, efficacy, latent map)"
is "$(grep -ciE 'CONSOLE|Failed to load|net::ERR|Uncaught' "$out/chromium.log")" 0 \
    "no console message, failed load or script error"
is "$(grep -c '<script' "$out/dom.html")" 0 "no script element in the DOM"

browse --screenshot="$out/report.png" --window-size=1280,2400 >/dev/null 2>&1
is "$(head -c 4 "$out/report.png" | tail -c 3)" "PNG" "a screenshot in $out/report.png"

pg_psql -d postgres -c "DROP DATABASE $db" >/dev/null
done_testing
