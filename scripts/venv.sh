# Sourced by scripts/test and scripts/demo: makes sure ./.venv holds the pinned moto
# emulator (installed once) and exports LAKEPASS_MOTO_PYTHON, its Python.
MOTO_VERSION="5.2.5"
venv=".venv"
if ! "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "installing moto[server]==$MOTO_VERSION into $venv (once)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
export LAKEPASS_MOTO_PYTHON="$PWD/$venv/bin/python"
