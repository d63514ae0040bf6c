#!/usr/bin/env bash
# Refresh the Swagger UI and ReDoc assets that /docs and /redoc serve, so the docs pages work
# with no internet. Bump a version (and its integrity, printed by
# `npm view <package>@<version> dist.integrity`), run this script, review and commit the result.
set -euo pipefail

SWAGGER_UI_DIST_VERSION="5.35.0"
SWAGGER_UI_DIST_INTEGRITY="sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
REDOC_VERSION="2.5.4"
REDOC_INTEGRITY="sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ=="

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo_root/src/storefront/static/docs"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for tool in npm node tar sed; do
    command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 1; }
done

sha256() {
    if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}

# fetch <package> <version> <integrity>: unpack the registry tarball into $work/<package>.
fetch() {
    local package="$1" version="$2" expected="$3" tarball actual
    tarball="$(cd "$work" && npm pack --ignore-scripts --silent "$package@$version" | tail -n 1)"
    actual="$(node -e '
        const data = require("fs").readFileSync(process.argv[1]);
        process.stdout.write("sha512-" + require("crypto").createHash("sha512").update(data).digest("base64"));
    ' "$work/$tarball")"
    if [[ "$actual" != "$expected" ]]; then
        echo "error: $package@$version integrity is $actual, expected $expected" >&2
        exit 1
    fi
    mkdir -p "$work/$package"
    tar -xzf "$work/$tarball" -C "$work/$package" --strip-components=1
}

# Browsers fetch a source map only when one is referenced; the maps are not shipped.
strip_source_map() {
    sed -e '/^\/\/# sourceMappingURL=/d' -e '/^\/\*# sourceMappingURL=.*\*\/$/d' "$1" >"$2"
}

fetch swagger-ui-dist "$SWAGGER_UI_DIST_VERSION" "$SWAGGER_UI_DIST_INTEGRITY"
fetch redoc "$REDOC_VERSION" "$REDOC_INTEGRITY"

swagger="$work/swagger-ui-dist"
redoc="$work/redoc"
out="$work/out"
mkdir -p "$out"

strip_source_map "$swagger/swagger-ui-bundle.js" "$out/swagger-ui-bundle.js"
strip_source_map "$swagger/swagger-ui.css" "$out/swagger-ui.css"
strip_source_map "$redoc/bundles/redoc.standalone.js" "$work/redoc.standalone.js"
# ReDoc's footer logo comes from a CDN, which the docs' CSP blocks (a console error on
# every load): an empty inline image instead.
sed -e "s#src:\"https://cdn.redoc.ly/redoc/logo-mini.svg\"#src:\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E\"#" \
    "$work/redoc.standalone.js" >"$out/redoc.standalone.js"
cp "$swagger/favicon-32x32.png" "$out/favicon-32x32.png"

# Licences travel with the code: the packages' own, Apache-2.0's NOTICE, and the third-party
# notices webpack extracted from the bundles (the bundles point at these file names).
cp "$swagger/LICENSE" "$out/LICENSE.swagger-ui-dist"
cp "$swagger/NOTICE" "$out/NOTICE.swagger-ui-dist"
cp "$swagger/swagger-ui-bundle.js.LICENSE.txt" "$out/swagger-ui-bundle.js.LICENSE.txt"
cp "$redoc/LICENSE" "$out/LICENSE.redoc"
cp "$redoc/bundles/redoc.standalone.js.LICENSE.txt" "$out/redoc.standalone.js.LICENSE.txt"

printf 'swagger-ui-dist@%s\nredoc@%s\n' "$SWAGGER_UI_DIST_VERSION" "$REDOC_VERSION" >"$out/VERSIONS"

(
    cd "$out"
    files=()
    while IFS= read -r name; do files+=("$name"); done < <(LC_ALL=C ls)
    sha256 "${files[@]}" >SHA256SUMS
)

# The directory holds these assets only: replace its contents as a whole.
mkdir -p "$dest"
find "$dest" -mindepth 1 -maxdepth 1 -type f -delete
cp "$out"/* "$dest"/
echo "docs assets refreshed in ${dest#"$repo_root"/}:"
(cd "$dest" && ls -l)
