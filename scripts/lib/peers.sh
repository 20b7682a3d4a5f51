# Sourced by the scripts that test rill against peers other people wrote: the Python packages pinned in
# tests/interop/requirements.txt (interop.sh, firmware-host-tap.sh, deflate-bench.sh) and the Autobahn
# testsuite (autobahn.sh, firmware-host-tap.sh). Each is installed once under target/ and shared. test-all.sh
# runs some of these scripts at once, so the install holds a lock: a second script waits for the first one's
# install instead of building into the same directory beside it.
# Run from the repository root.

# The venv with tests/interop/requirements.txt. PY is its interpreter.
INTEROP_VENV=target/interop-venv
PY=$PWD/$INTEROP_VENV/bin/python
install_interop_venv() {
    mkdir -p target
    (
        flock 9
        if [ ! -x "$PY" ] || ! "$PY" -m pip --version >/dev/null 2>&1; then
            timeout 300 python3 -m venv "$INTEROP_VENV"
        fi
        if ! cmp -s tests/interop/requirements.txt "$INTEROP_VENV/.requirements"; then
            timeout 600 "$PY" -m pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
            cp tests/interop/requirements.txt "$INTEROP_VENV/.requirements"
        fi
    ) 9>target/.interop-venv.lock
}

# install_wstest DIR: the Autobahn testsuite as DIR/wstest/wstest, built by ../shared/autobahn/make-wstest.sh (PyPI).
install_wstest() {
    local dir=$1
    mkdir -p "$dir"
    (
        flock 9
        if [ ! -x "$dir/wstest/wstest" ]; then
            rm -rf "$dir/wstest"
            timeout 600 ../shared/autobahn/make-wstest.sh "$dir/wstest"
        fi
    ) 9>"$dir/.wstest.lock"
}
