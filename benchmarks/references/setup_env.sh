#!/usr/bin/env bash
# Create benchmarks/.refvenv: Python 3.12 with the reference approximators the benchmarks
# compare against (shapiq 1.8.0, spectralexplain 0.0.4, ContextCite's solver), without torch
# or CUDA. Needs the package index at install time only; nothing is downloaded at run time.
#
#   bash benchmarks/references/setup_env.sh            # create (or complete) the venv
#   bash benchmarks/references/setup_env.sh --force    # delete it and start again
#
# The interpreter: $PYTHON312 if set, else python3.12 on PATH, else a pyenv 3.12.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$(cd "$HERE/.." && pwd)/.refvenv"

if [[ "${1:-}" == "--force" ]]; then
    rm -rf "$VENV"
fi

find_python() {
    local candidate
    for candidate in "${PYTHON312:-}" "$(command -v python3.12 || true)" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 \
        /root/.pyenv/versions/3.12*/bin/python3.12; do
        if [[ -n "$candidate" && -x "$candidate" ]] \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [[ ! -x "$VENV/bin/python" ]]; then
    PYTHON="$(find_python)" || {
        echo "setup_env.sh: no Python 3.12 found; set PYTHON312=/path/to/python3.12" >&2
        exit 1
    }
    echo "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -r "$HERE/requirements.txt"
# ContextCite's package requires torch, transformers, datasets, nltk and spacy; its LASSO
# solver (context_cite/solver.py) needs only numpy and scikit-learn, and the worker loads
# that one file. --no-deps keeps torch and CUDA out.
"${PIP[@]}" install --no-deps "context-cite==0.0.4"

# Check that every reference imports without torch, and record what was installed.
"$VENV/bin/python" - <<'EOF'
import importlib.util
import sys
from pathlib import Path

import lightgbm  # noqa: F401
import shapiq
import shapiq.approximator  # noqa: F401
import spectralexplain  # noqa: F401
import xgboost  # noqa: F401

spec = importlib.util.find_spec("context_cite")
solver = Path(next(iter(spec.submodule_search_locations))) / "solver.py"
module_spec = importlib.util.spec_from_file_location("_context_cite_solver", solver)
module = importlib.util.module_from_spec(module_spec)
module_spec.loader.exec_module(module)
assert hasattr(module, "LassoRegression")
assert "torch" not in sys.modules, "torch was imported"
print(f"reference venv ready: Python {sys.version.split()[0]}, shapiq {shapiq.__version__}")
EOF
"${PIP[@]}" freeze > "$VENV/versions.txt"
echo "installed versions written to $VENV/versions.txt"
