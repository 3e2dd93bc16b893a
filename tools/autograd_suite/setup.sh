#!/bin/bash
# Fetch autograd 1.9.1's sdist (tests/ and examples/ only are used; autograd itself is NOT
# installed: the shim in shim/autograd takes its name) and lay the harness out under $1.
set -e
DEST=${1:-/tmp/autograd_suite}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p /tmp/ag "$DEST"
[ -f /tmp/ag/autograd-1.9.1.tar.gz ] || pip download --no-deps --no-binary :all: autograd==1.9.1 -d /tmp/ag
[ -d /tmp/ag/autograd-1.9.1 ] || tar xzf /tmp/ag/autograd-1.9.1.tar.gz -C /tmp/ag
if [ "$HERE" != "$DEST" ]; then cp -r "$HERE"/run.py "$HERE"/compare_numbers.py "$HERE"/shim "$HERE"/reference "$HERE"/sanity_referee.py "$HERE"/README.md "$DEST"/; fi
# the adkit checkout to measure (run.py's default; AG_ADKIT_PATH overrides it)
[ "$HERE" = "$DEST" ] || (cd "$HERE/../.." && pwd) > "$DEST/adkit_checkout.txt"
rm -rf "$DEST/tests" "$DEST/examples"
cp -r /tmp/ag/autograd-1.9.1/tests "$DEST/tests"
cp -r /tmp/ag/autograd-1.9.1/examples "$DEST/examples"
echo "ready: cd $DEST && python run.py tests && python run.py examples && python run.py summary"
