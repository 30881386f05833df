# Sourced by up.sh and test.sh: make .venv hold the project with the extras in $1, reinstalling
# only when pyproject.toml or the extras changed. uv installs it (seconds from its cache, where pip
# takes minutes); pip does when uv cannot be had.
extras="$1"
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.revwatch-installed"
want="$(sha256sum pyproject.toml | cut -c1-16) $extras"
if [ ! -f "$stamp" ] || ! grep -qxF "$want" "$stamp"; then
  echo "installing Revwatch into .venv …"
  if ! { { [ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q --disable-pip-version-check uv; } \
         && .venv/bin/uv pip install -q --python .venv/bin/python -e ".$extras"; } >.venv/pip.log 2>&1 \
     && ! .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extras" >>.venv/pip.log 2>&1; then
    cat .venv/pip.log >&2
    exit 1
  fi
  echo "$want" >> "$stamp"
fi
